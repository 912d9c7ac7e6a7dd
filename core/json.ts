// Untrusted JSON in: parsed so that `__proto__` / `constructor.prototype` keys are refused
// rather than reaching a later merge or copy (prototype pollution).
import sjson from 'secure-json-parse';
import { ShadowdiffError } from './errors';

export function parseJson(text: string, where = 'input'): unknown {
  try {
    return sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    const reason = (err as Error).message;
    const polluting = /prototype|__proto__/i.test(reason);
    throw new ShadowdiffError(
      'SHADOWDIFF_BAD_JSON',
      polluting
        ? `${where}: refused a "__proto__" or "constructor.prototype" key (it could pollute object prototypes).`
        : `${where}: not valid JSON (${reason}).`,
      { where },
    );
  }
}
