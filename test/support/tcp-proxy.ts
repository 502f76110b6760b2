/**
 * A TCP proxy on loopback that can freeze the connections through it: paused, it reads nothing from either side
 * and forwards nothing, while every socket stays open, as a hung network path or a stopped middlebox would.
 * What was sent meanwhile waits in the sockets' buffers and is delivered on resume, as TCP would after a
 * partition heals. TLS passes through untouched.
 */
import { createServer, connect } from "node:net";
import type { Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Stops forwarding bytes in both directions on every connection, keeping them open. */
  pause(): void;
  /** Forwards again, starting with what waited. */
  resume(): void;
  /** Closes every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let paused = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (paused) socket.pause();
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on("data", (chunk) => to.write(chunk));
      from.on("end", () => to.end());
      from.on("error", () => to.destroy());
      from.on("close", () => to.destroy());
      // Flowing mode starts with the "data" listener; a connection made while paused waits like the others.
      if (paused) from.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("the proxy has no port");
  return {
    port: address.port,
    pause: () => {
      paused = true;
      for (const socket of sockets) socket.pause();
    },
    resume: () => {
      paused = false;
      for (const socket of sockets) socket.resume();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
