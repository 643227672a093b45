// Shared helpers for the runtime suites: spec builders for both hosts, a pino logger whose
// lines a test can read, polling for conditions on real threads, and whether the CPU scheduling
// policy can be switched here.
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { ActorFactory, ActorSpec } from '../../runtime/actor.js';
import * as probe from '../../actors/probe.js';
import type { SimSpec } from '../../runtime/sim.js';
import { createLogger } from '../../runtime/log.js';
import { Router } from '../../runtime/router.js';
import { MemoryStore } from '../../runtime/store.js';

export type ProbeName = 'echo' | 'counter' | 'durableCounter' | 'blaster' | 'failingStart' | 'slow' | 'burster' | 'peer';

/** A spec for one of the diagnostic actors in actors/probe.ts, runnable on either host. */
export function probeSpec(id: string, name: ProbeName, extra: Partial<ActorSpec> = {}): SimSpec {
  return {
    id,
    role: name,
    module: 'actors/probe.js',
    export: name,
    factory: probe[name] as ActorFactory,
    ...extra,
  };
}

/** The same spec without the in-process factory (ThreadHost loads the module in its worker). */
export function threadSpec(id: string, name: ProbeName, extra: Partial<ActorSpec> = {}): ActorSpec {
  const { factory: _factory, ...spec } = probeSpec(id, name, extra);
  return spec;
}

/** A SimHost spec with an inline factory. */
export function inlineSpec(id: string, factory: ActorFactory, extra: Partial<ActorSpec> = {}): SimSpec {
  return { id, role: 'test', module: 'inline', export: id, factory, ...extra };
}

export interface CapturedLogger {
  logger: Logger;
  lines(): Record<string, unknown>[];
}

/** A pino logger that keeps its JSON lines in memory. */
export function captureLogger(level = 'info'): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Polls `check` every few ms on real time until it holds; throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Captures a promise's rejection (or fails the test if it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** A Router for slot 0 of a thread-less test: silent, in-memory stores, and an actor crash throws. */
export function testRouter(): Router {
  return new Router({
    slot: 0,
    seed: 1,
    logger: createLogger({ level: 'silent' }),
    store: () => new MemoryStore(),
    crashed: (_cell, err) => {
      throw err;
    },
  });
}

/** Whether this machine can switch policies the way ThreadHost does (Linux with util-linux's chrt). */
export const canSetPolicy = (() => {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('chrt', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
