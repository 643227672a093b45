/**
 * The raw baseline for the transport benchmark: a worker that counts what arrives on a
 * MessageChannel and acknowledges each window, with no runtime in between. Batches go as
 * structured-clone arrays, or (`msgpack`) as msgpack-encoded ArrayBuffers transferred, the
 * runtime's wire format without the runtime.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Packr } from 'msgpackr';

const { port, role, msgpack } = workerData as { port: MessagePort; role: 'sink' | 'source'; msgpack?: boolean };
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

if (role === 'sink') {
  let count = 0;
  port.on('message', (m: unknown[] | ArrayBuffer | { ack: true }) => {
    if (Array.isArray(m)) count += m.length;
    else if (m instanceof ArrayBuffer) count += (packr.unpack(new Uint8Array(m)) as unknown[]).length;
    else port.postMessage(count);
  });
} else {
  parentPort!.on('message', (cmd: { count: number; perMessage: number; payloadBytes: number; windowMsgs: number }) => {
    const payload = 'x'.repeat(cmd.payloadBytes);
    const t0 = performance.now();
    let sent = 0;
    let acked = 0;
    let windows = 0;
    // Like the runtime's blaster: two windows in flight, each acknowledged by the sink.
    const onAck = () => {
      if (++acked === windows && sent >= cmd.count) parentPort!.postMessage({ elapsedMs: performance.now() - t0, sent });
      else sendWindow();
    };
    const sendWindow = () => {
      if (sent >= cmd.count) return;
      windows++;
      const end = Math.min(cmd.count, sent + cmd.windowMsgs);
      while (sent < end) {
        const n = Math.min(cmd.perMessage, end - sent);
        const batch = new Array(n);
        for (let i = 0; i < n; i++) batch[i] = payload;
        if (msgpack) {
          const view = packr.pack(batch);
          const frame = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
          port.postMessage(frame, [frame]);
        } else port.postMessage(batch);
        sent += n;
      }
      port.postMessage({ ack: true });
    };
    port.on('message', onAck);
    sendWindow();
    sendWindow();
  });
}
