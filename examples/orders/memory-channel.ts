// The example services' event channel when no AMQP_URL is set: the part of an amqplib channel
// they use (publish to an exchange), counting what was published. A stand-in for the demo; with
// AMQP_URL the services publish to RabbitMQ.
type Callback = (err: unknown, ok?: unknown) => void;

export class MemoryChannel {
  /** Messages published, by `exchange/routingKey`. */
  readonly published = new Map<string, number>();

  async assertExchange(exchange: string): Promise<{ exchange: string }> {
    return { exchange };
  }

  publish(exchange: string, routingKey: string, _content: Buffer, _options?: unknown, callback?: Callback): boolean {
    const key = `${exchange}/${routingKey}`;
    this.published.set(key, (this.published.get(key) ?? 0) + 1);
    if (callback) setImmediate(() => callback(null));
    return true;
  }

  sendToQueue(queue: string, content: Buffer, options?: unknown, callback?: Callback): boolean {
    return this.publish('', queue, content, options, callback);
  }

  async waitForConfirms(): Promise<void> {}

  async close(): Promise<void> {}
}
