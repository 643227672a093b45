/**
 * The raw baseline for the transport benchmark: a worker that counts what arrives on a
 * MessageChannel and acknowledges each window, with no runtime in between.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

const { port, role } = workerData as { port: MessagePort; role: 'sink' | 'source' };

if (role === 'sink') {
  let count = 0;
  port.on('message', (m: unknown[] | { ack: true }) => {
    if (Array.isArray(m)) count += m.length;
    else port.postMessage(count);
  });
} else {
  parentPort!.on('message', (cmd: { count: number; perMessage: number; payloadBytes: number; windowMsgs: number }) => {
    const payload = 'x'.repeat(cmd.payloadBytes);
    const t0 = performance.now();
    let sent = 0;
    const sendWindow = () => {
      if (sent >= cmd.count) {
        parentPort!.postMessage({ elapsedMs: performance.now() - t0, sent });
        return;
      }
      const end = Math.min(cmd.count, sent + cmd.windowMsgs);
      while (sent < end) {
        const n = Math.min(cmd.perMessage, end - sent);
        const batch = new Array(n);
        for (let i = 0; i < n; i++) batch[i] = payload;
        port.postMessage(batch);
        sent += n;
      }
      port.postMessage({ ack: true });
    };
    port.on('message', sendWindow);
    sendWindow();
  });
}
