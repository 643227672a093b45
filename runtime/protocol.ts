/**
 * The control protocol between the ThreadHost (main thread) and its workers, in one typed
 * file. Actor traffic never uses it: actors talk over direct MessageChannels between workers.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ActorId, ActorMetrics, ActorSpec } from './actor.js';
import type { FaultState } from './faults.js';

export interface WorkerInit {
  slot: number;
  seed: number;
  logLevel: string;
  logDestination: number | string;
  dataDir: string;
  storage: 'disk' | 'memory';
  directory: [ActorId, number][];
  down: [ActorId, string][];
  faults: FaultState;
  /** Busy-poll budget in microseconds (0: off); see Router.setBusyPoll. */
  busyPollUs: number;
  /** See ThreadHostOptions.quietCheckMs. */
  quietCheckMs: number;
  ports: [number, MessagePort][];
  control: MessagePort;
}

export type ToWorker =
  | { t: 'spawn'; spec: ActorSpec; incarnation: number }
  | { t: 'kill'; id: ActorId; reason: string }
  | { t: 'stop'; id: ActorId }
  | { t: 'pause'; id: ActorId; paused: boolean }
  | { t: 'dir'; id: ActorId; slot: number; down: string | null }
  | { t: 'forget'; id: ActorId }
  | { t: 'faults'; state: FaultState }
  | { t: 'busyPoll'; us: number }
  | { t: 'port'; slot: number; port: MessagePort }
  | { t: 'closePort'; slot: number }
  /** Answered with `synced` once every control message before it is handled. */
  | { t: 'sync'; id: number }
  | { t: 'shutdown' }
  /** Crash: the worker exits at once, at the next turn boundary (never inside a native call). */
  | { t: 'die' };

export type FromWorker =
  | { t: 'crashed'; id: ActorId; reason: string }
  | { t: 'stopped'; id: ActorId }
  | { t: 'synced'; id: number }
  | { t: 'shutdownDone' };

/** What each worker serves over comlink on its control port. */
export interface WorkerControl {
  status(id: ActorId): Record<string, unknown>;
  metrics(id: ActorId): ActorMetrics | null;
  /** Frames that failed to decode on this worker. */
  decodeErrors(): number;
  ping(): number;
  /** This thread's transport counters and busy-poll budget (see Router.setBusyPoll). */
  transport(): TransportStats;
  /** CPU time this thread has used, in ms (user, system), or null where the OS does not say. */
  cpu(): { userMs: number; systemMs: number } | null;
  /** This thread's V8 heap, in bytes. */
  heap(): { usedBytes: number; totalBytes: number; externalBytes: number };
}

export interface TransportStats {
  busyPollUs: number;
  framesPolled: number;
  framesWoken: number;
  framesOut: number;
  pollsEmpty: number;
  decodeErrors: number;
  /** Envelopes and frame bytes that arrived from other threads. */
  envelopesIn: number;
  bytesIn: number;
  /** Quiet-time collections run after bursts of them. */
  quietCollections: number;
}
