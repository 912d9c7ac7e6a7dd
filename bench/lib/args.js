// `--name value` from the command line, or the default: what every bench script takes.
'use strict';

exports.arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
