// The primary response: legacy's answer streamed to the client as it came (hop-by-hop headers
// aside), with a copy kept for the exchange when one is recorded. Whatever happens, each
// request is finished once: counted, and legacy's side handed to its exchange.
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { BodyPrefix } from '../../core/body';
import { HOP_BY_HOP_RESPONSE, moveTransferCodings } from './hop-by-hop';
import { describeError, type MirrorResult } from './mirror';

export type Outcome = 'ok' | '502' | '504' | 'aborted';

/** What the handler tells the forwarder (the narrow side of it this file needs). */
export interface PrimaryOwner<P> {
  /** `mirrored`: the request was chosen for mirroring (its latency is counted apart). */
  done(outcome: Outcome, started: number, mirrored: boolean): void;
  cancelMirrors(g: P, reason: 'request-incomplete'): void;
  settle(g: P, side: 'legacy' | 'candidate', result: MirrorResult): void;
}

/** Streams legacy's response to the client, keeping a copy for the exchange when one is recorded. */
export class PrimaryHandler<P extends { mirrored: boolean }> implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private finished = false;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> | undefined;
  private readonly kept: BodyPrefix;

  constructor(
    private readonly res: ServerResponse,
    private readonly f: PrimaryOwner<P>,
    private readonly started: number,
    private readonly g: P | undefined,
    private readonly keepBytes: number,
    /** Who serves the request: legacy, or the candidate in a cutover. */
    private readonly side: 'legacy' | 'candidate' = 'legacy',
  ) {
    this.kept = new BodyPrefix(keepBytes);
    res.once('close', () => {
      if (this.finished) return;
      // The client went away first: stop the upstream request too.
      this.finish('aborted', { error: 'the client closed the connection', ms: this.elapsed() });
      this.controller?.abort(new Error('client closed the connection'));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (statusCode < 200) return; // 1xx: undici handles them; the client gets the final response
    this.status = statusCode;
    if (this.g) this.headers = headers;
    const raw = controller.rawHeaders as Buffer[] | null | undefined;
    const out: string[] = [];
    let transferEncoding: string | undefined;
    if (raw) {
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toString('latin1');
        const lower = name.toLowerCase();
        if (HOP_BY_HOP_RESPONSE.has(lower)) {
          if (lower === 'transfer-encoding') transferEncoding = transferEncoding === undefined ? raw[i + 1]!.toString('latin1') : `${transferEncoding}, ${raw[i + 1]!.toString('latin1')}`;
          continue;
        }
        out.push(name, raw[i + 1]!.toString('latin1'));
      }
    } else {
      for (const [name, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        if (HOP_BY_HOP_RESPONSE.has(name)) {
          if (name === 'transfer-encoding') transferEncoding = Array.isArray(v) ? v.join(', ') : v;
          continue;
        }
        for (const one of Array.isArray(v) ? v : [v]) out.push(name, one);
      }
    }
    if (transferEncoding !== undefined) moveTransferCodings(out, transferEncoding);
    if (this.res.destroyed) return;
    this.res.writeHead(statusCode, statusMessage || undefined, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // Past the recording cap only its first keepBytes stay, for the hash the exchange records.
    if (this.g && this.keepBytes > 0) this.kept.add(chunk);
    if (this.res.destroyed) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    const result: MirrorResult = { status: this.status, ms: this.elapsed() };
    if (this.headers) result.headers = this.headers;
    if (this.keepBytes > 0) result.chunks = this.kept.chunks;
    if (this.kept.truncated) result.truncated = true;
    this.finish('ok', result);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.finished) return;
    const timeout = /TIMEOUT/.test((err as NodeJS.ErrnoException).code ?? '') || /TIMEOUT/.test((err as { cause?: NodeJS.ErrnoException }).cause?.code ?? '');
    if (!this.res.headersSent) {
      const status = timeout ? 504 : 502;
      const text = status === 504 ? 'Gateway Timeout' : 'Bad Gateway';
      this.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length + 1) });
      this.res.end(`${text}\n`);
      this.finish(status === 504 ? '504' : '502', { error: describeError(err), ms: this.elapsed() });
    } else {
      // Part of the response is out: cut the connection so the client sees it incomplete.
      this.res.destroy();
      this.finish('502', { error: describeError(err), ms: this.elapsed() });
    }
  }

  private elapsed(): number {
    return Math.round((performance.now() - this.started) * 10) / 10;
  }

  /** Once per request: counts the outcome and hands the serving side's response to the exchange. */
  private finish(outcome: Outcome, legacy: MirrorResult): void {
    if (this.finished) return;
    this.finished = true;
    this.f.done(outcome, this.started, this.g !== undefined);
    if (!this.g) return;
    // Legacy answered before the request body was complete (or failed first): nothing to mirror.
    if (!this.g.mirrored) this.f.cancelMirrors(this.g, 'request-incomplete');
    else this.f.settle(this.g, this.side, legacy);
  }
}
