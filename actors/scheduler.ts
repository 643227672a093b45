/**
 * The scheduler: the scheduling queue and plugins of controllers/scheduler over informers on
 * nodes, pods, volumes and claims, binding pods through the API server's binding subresource.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';
import { InformerFactory } from '../controllers/informer.js';
import { Scheduler } from '../controllers/scheduler/index.js';
import { ClientEventRecorder } from '../controllers/events.js';
import { ActorApiClient } from './api-client.js';

export interface SchedulerArgs {
  apiserver?: string;
  schedulerName?: string;
}

export default function scheduler(rawArgs: unknown): Actor {
  const args = (rawArgs ?? {}) as SchedulerArgs;
  let client: ActorApiClient;
  let sched: Scheduler;
  let informers: InformerFactory;
  return {
    async onStart(ctx: ActorContext) {
      client = new ActorApiClient(ctx, { apiserver: args.apiserver ?? 'apiserver' });
      informers = new InformerFactory({ client, clock: ctx, timers: ctx });
      sched = new Scheduler({
        client,
        clock: ctx,
        timers: ctx,
        random: () => ctx.random(),
        recorder: new ClientEventRecorder(client, ctx, 'default-scheduler'),
        ...(args.schedulerName ? { schedulerName: args.schedulerName } : {}),
      });
      sched.attach(informers);
      informers.start();
      sched.start();
      ctx.log.info('scheduler started');
    },
    onMessage(_ctx, _from, msg) {
      client.onNotice(msg);
    },
    onStop() {
      sched?.stop();
      informers?.stop();
    },
    status() {
      return sched ? { ...sched.stats } : {};
    },
  };
}
