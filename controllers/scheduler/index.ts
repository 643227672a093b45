/**
 * The scheduler core: queue, cache, framework (filters and scores) and the scheduling loop.
 */
export { SchedulerCache } from './cache.js';
export { FitError, Framework, MAX_NODE_SCORE, type FilterFailure, type FrameworkOptions, type ScheduleResult } from './framework.js';
export { buildPodInfo, NodeInfo, type PodInfo } from './nodeinfo.js';
export { SchedulingQueue, type ClusterEvent, type QueueOptions, type QueuedPod } from './queue.js';
export { DEFAULT_SCHEDULER_NAME, Scheduler, type SchedulerOptions } from './scheduler.js';
