// The control channel (cutover, docs/cutover.md): decisions every proxy instance must hear within
// seconds, apart from the records — the guard's rollbacks. Broadcast, not queued per partition:
// on RabbitMQ a fanout exchange (`<prefix>.control`) with one exclusive queue per listener; in
// process an emitter. A listener that was away misses what was sent meanwhile, so the guard
// repeats a rollback for a while, and a proxy applies each one once (by its id).
import { z } from 'zod';

export const controlMessageSchema = z.object({
  v: z.literal(1),
  type: z.literal('rollback'),
  /** The decision's id: a proxy applies each once, however often it is repeated. */
  id: z.string().min(1).max(200),
  runId: z.string().min(1).max(200),
  /** The route as comparisons name it (`POST /orders`), or `*` for every share. */
  route: z.string().min(1).max(500),
  reason: z.string().max(2000),
  by: z.string().max(200),
  at: z.string(),
  /** What the guard saw: the shadow ids, the finding, the alert. */
  evidence: z.unknown().optional(),
});

export type ControlMessage = z.infer<typeof controlMessageSchema>;

export interface ControlChannel {
  /** Broadcasts one decision; resolves once the broker confirmed it. */
  publish(message: ControlMessage): Promise<void>;
  /** Hears every decision broadcast from now on (and, after a reconnect, from then on). */
  listen(onMessage: (message: ControlMessage) => void): Promise<{ cancel(): Promise<void> }>;
  close(): Promise<void>;
}

/** The in-process channel (the embedded runtime, tests): every listener hears every message. */
export function memoryControl(): ControlChannel {
  const listeners = new Set<(m: ControlMessage) => void>();
  return {
    async publish(message) {
      const m = controlMessageSchema.parse(message);
      for (const l of [...listeners]) queueMicrotask(() => l(m));
    },
    async listen(onMessage) {
      listeners.add(onMessage);
      return { cancel: async () => void listeners.delete(onMessage) };
    },
    async close() {
      listeners.clear();
    },
  };
}
