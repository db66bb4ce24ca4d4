/** The part of a websocket the hub uses (ws.WebSocket satisfies it). */
export interface BoundSocket {
  send(data: string): void;
  readonly readyState: number;
}

const OPEN = 1;

/**
 * Sockets bound to Subscriptions (R4 websocket channel: the client sends
 * `bind <id>`, the server sends `ping <id>` on each notification). Local to
 * this process: each replica pings the sockets connected to it.
 */
export class WebsocketHub {
  private readonly bound = new Map<string, Set<BoundSocket>>();

  bind(id: string, socket: BoundSocket): void {
    let set = this.bound.get(id);
    if (!set) this.bound.set(id, (set = new Set()));
    set.add(socket);
  }

  unbindAll(socket: BoundSocket): void {
    for (const [id, set] of this.bound) {
      set.delete(socket);
      if (set.size === 0) this.bound.delete(id);
    }
  }

  /** Sends `ping <id>` to every open socket bound to the Subscription; how many got it. */
  ping(id: string): number {
    let sent = 0;
    for (const socket of this.bound.get(id) ?? []) {
      if (socket.readyState !== OPEN) continue;
      socket.send(`ping ${id}`);
      sent++;
    }
    return sent;
  }
}
