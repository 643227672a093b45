/**
 * `kubectl exec` over WebSockets: `GET pods/{name}/exec?command=...&container=...` upgraded with
 * the remote-command subprotocol v5.channel.k8s.io (or v4). Binary messages start with a channel
 * byte: 1 carries the command's output, 3 the final Status (Success, or Failure with reason
 * NonZeroExitCode and the exit code as cause), then the server closes.
 *
 * The command runs in the container's small shell against its files (actors/kubelet-shell.ts),
 * to completion, on the kubelet of the pod's node. Not served: stdin (`-i`), terminals (`-t`),
 * attach and port-forward; asking for them is a 400 with a message saying so.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { lookupResource } from '../api/registry.js';
import { ApiError, errors, type Status } from '../api/types.js';
import type { ApiCore } from './apiserver-core.js';
import type { KubeletGateway } from './kubelet-gateway.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDOUT = 1;
const ERROR = 3;
const PODS = lookupResource('', 'v1', 'pods')!;

export interface ExecDeps {
  core: ApiCore;
  kubelets: KubeletGateway;
  authorized(header: string | undefined): boolean;
  log: { warn: (obj: object, msg: string) => void };
}

/** The `upgrade` listener of the API server's HTTPS server. */
export function createUpgradeHandler(deps: ExecDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    serve(req, socket, head).catch((err) => {
      const status: Status = err instanceof ApiError ? err.status : errors.internal(String((err as Error)?.message ?? err)).status;
      if (!(err instanceof ApiError)) deps.log.warn({ err: String(err) }, 'exec failed');
      refuse(socket, status);
    });
  };

  async function serve(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (!deps.authorized(req.headers.authorization)) throw errors.unauthorized();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)\/?$/.exec(url.pathname);
    if (!m) throw errors.notFoundPath();
    const [, namespace, name, what] = m as unknown as [string, string, string, string];
    if (what !== 'exec') throw errors.badRequest(`${what} is not supported by this cluster; kubectl exec runs commands without stdin or a terminal`);
    const q = url.searchParams;
    // Everything that can refuse the request comes before the protocol check: kubectl retries a
    // refused WebSocket upgrade over SPDY, and it is that second answer the user reads.
    if (q.get('stdin') === 'true' || q.get('tty') === 'true') {
      throw errors.badRequest('interactive exec (stdin, tty) is not supported by this cluster; run a command, e.g. kubectl exec POD -- sh -c "..."');
    }
    const command = q.getAll('command');
    if (command.length === 0) throw errors.badRequest('you must specify at least one command for the container');
    const podName = decodeURIComponent(name);
    const pod = await deps.core.get(PODS, decodeURIComponent(namespace), podName);
    const container = q.get('container') ?? undefined;
    const names = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c: { name?: string }) => c?.name);
    if (container !== undefined && !names.includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${podName}`);
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!EXEC_PROTOCOLS.some((p) => offered.includes(p))) throw errors.badRequest(`exec needs one of the WebSocket subprotocols ${EXEC_PROTOCOLS.join(', ')}`);
    const result = await deps.kubelets.exec(pod, container, command);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (result.output) ws.send(frame(STDOUT, Buffer.from(result.output, 'utf8')));
      ws.send(frame(ERROR, Buffer.from(JSON.stringify(exitStatus(command, result.exitCode)), 'utf8')));
      ws.close(1000);
    });
  }
}

function frame(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), data]);
}

/** What the error channel carries at the end, as the kubelet's streaming server writes it. */
export function exitStatus(command: string[], exitCode: number): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** Answers a request that will not be upgraded with its Status, and hangs up. */
function refuse(socket: Duplex, status: Status): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(status);
  const code = status.code ?? 500;
  socket.end(`HTTP/1.1 ${code} ${status.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
