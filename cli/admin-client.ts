// Calls to a running proxy's admin API (`shadowdiff sampling`, `shadowdiff cutover`): the URL
// checked, the token (the command's SHADOWDIFF_ADMIN_TOKEN) required for changes, and the
// proxy's refusal shown as its own message.
import { ShadowdiffError } from '../core/errors';

/** Sends one request to the admin API and returns the answer's text; a change needs the token. */
export async function adminCall(admin: string, token: string | undefined, path: string, change?: { method: 'PUT' | 'POST'; body: unknown; what: string }): Promise<string> {
  let url: URL;
  try {
    url = new URL(path, admin);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `--admin "${admin}" is not a URL: use e.g. http://127.0.0.1:9090.`);
  }
  if (change && !token) throw new ShadowdiffError('SHADOWDIFF_USAGE', `${change.what} needs the admin token: set SHADOWDIFF_ADMIN_TOKEN.`);
  let res: Response;
  try {
    res = await fetch(url, {
      method: change?.method ?? 'GET',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(change ? { body: JSON.stringify(change.body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `cannot reach the proxy's admin API at ${url.origin}: ${(err as Error).message}. Is the proxy running with --admin?`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: show it as it is
    }
    throw new ShadowdiffError(res.status === 400 ? 'SHADOWDIFF_CONFIG' : res.status === 409 ? 'SHADOWDIFF_HELD' : 'SHADOWDIFF_USAGE', `the proxy refused (${res.status}): ${message}`);
  }
  return text;
}
