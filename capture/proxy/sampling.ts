// Which requests are mirrored: a global share, shares per route pattern (first match wins)
// and a kill switch, all replaceable while the proxy runs. With a sampling key (a header such
// as x-user-id) the decision is a stable hash of its value, so one customer's requests are all
// mirrored or none; without one it is random.
import { ShadowdiffError } from '../../core/errors';
import { compileRoutePattern, type RoutePattern } from '../../core/route-pattern';
import { fnv1a } from '../../core/fnv1a';
import { type SamplingConfig, samplingSchema } from './config';
import { READABLE } from '../../core/issues';

export const SKIP_REASONS = ['disabled', 'sampled-out'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type Decision = { mirror: true; route?: string } | { mirror: false; reason: SkipReason };

interface CompiledRoute extends RoutePattern {
  /** Sampled when the request's bucket (0 … 9999) is below this. */
  readonly below: number;
}

interface Compiled {
  readonly config: SamplingConfig;
  readonly routes: readonly CompiledRoute[];
  readonly below: number;
  readonly key: string | undefined;
}

const BUCKETS = 10_000;

export class Sampler {
  private state: Compiled;

  /** `salt` (the run id) varies which keys fall in the sample from one run to the next. */
  constructor(
    config: SamplingConfig,
    private readonly salt: string,
  ) {
    this.state = compile(config);
  }

  get config(): SamplingConfig {
    return this.state.config;
  }

  /** The sampling key's header name, lower-cased (as node:http reports names). */
  get keyHeader(): string | undefined {
    return this.state.key;
  }

  /** Replaces the settings (validated; unknown or wrong keys are refused with the reason). Takes effect at the next request. */
  update(patch: unknown): SamplingConfig {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new ShadowdiffError('SHADOWDIFF_CONFIG', 'sampling: expected a JSON object such as {"percent": 5}.');
    const result = samplingSchema.safeParse({ ...this.state.config, ...patch }, READABLE);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new ShadowdiffError('SHADOWDIFF_CONFIG', `sampling.${issue.path.join('.') || '(value)'}: ${issue.message}.`, { key: `sampling.${issue.path.join('.')}` });
    }
    this.state = compile(result.data);
    return result.data;
  }

  decide(method: string, path: string, keyValue: string | undefined): Decision {
    const s = this.state;
    if (!s.config.enabled) return { mirror: false, reason: 'disabled' };
    let below = s.below;
    let route: string | undefined;
    if (s.routes.length) {
      for (const r of s.routes) {
        if (r.matches(method, path)) {
          below = r.below;
          route = r.route;
          break;
        }
      }
    }
    if (below <= 0) return { mirror: false, reason: 'sampled-out' };
    if (below < BUCKETS) {
      const bucket = keyValue === undefined ? Math.floor(Math.random() * BUCKETS) : fnv1a(this.salt, keyValue) % BUCKETS;
      if (bucket >= below) return { mirror: false, reason: 'sampled-out' };
    }
    return route === undefined ? { mirror: true } : { mirror: true, route };
  }
}

function compile(config: SamplingConfig): Compiled {
  const routes = config.routes.map((rule, i): CompiledRoute => ({ ...compileRoutePattern(rule.route, `sampling.routes.${i}.route`), below: toBuckets(rule.percent) }));
  return { config, routes, below: toBuckets(config.percent), key: config.key?.toLowerCase() };
}

function toBuckets(percent: number): number {
  return Math.round(percent * (BUCKETS / 100));
}
