// `promtool check metrics` (Debian's prometheus package) over a /metrics text: its complaints,
// empty when the exposition is clean.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

export function promtoolProblems(text: string): string[] {
  if (!PROMTOOL) throw new Error('promtool is not installed: apt-get install prometheus (.ci/run does this), or put promtool on /usr/local/bin.');
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim());
}
