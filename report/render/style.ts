// The one stylesheet: served by `shadowdiff serve` as /style.css and inlined in the
// self-contained report file, so both read alike.
export const CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1280px; padding: 0 1rem; }
h1 { font-size: 1.35rem; margin: .25rem 0; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
a { color: #0969da; } .muted, .crumbs { color: var(--muted); } code, .json, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; } th { font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 1em; padding: 0 .6em; font-size: 12px; font-weight: 600; color: #fff; } .ready { background: var(--ok); } .not-ready { background: var(--bad); } .not-enough-data { background: var(--warn); }
.flash { background: #ddf4ff; border: 1px solid #54aeff; border-radius: 6px; padding: .4rem .6rem; } .flash.bad { background: #ffebe9; border-color: var(--bad); } details.expected form { margin-top: .3rem; } details.expected input { width: 9rem; }
.warning { color: var(--warn); font-size: 12px; margin: .2rem 0 0; max-width: 40rem; } .sev-critical { color: var(--bad); font-weight: 700; text-transform: uppercase; } .sev-high { color: var(--bad); font-weight: 600; } .sev-medium { color: var(--warn); } .accepted { color: var(--muted); text-decoration: line-through; }
td.v { max-width: 26rem; overflow-wrap: anywhere; } .legacy { color: var(--bad); } .candidate { color: var(--ok); }
table.sides td { width: 50%; } .effect { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; margin: .25rem 0; } .effect.differs { border-color: var(--warn); } .effect .head { font-weight: 600; margin-bottom: .25rem; }
ul.json, ol.json { margin: 0; padding-left: 1.25rem; list-style: none; } ol.json { list-style: decimal; } .key { color: #8250df; }
mark.diff { border-radius: 3px; padding: 0 2px; } mark.diff.legacy { background: #ffebe9; } mark.diff.candidate { background: #dafbe1; }
@media (prefers-color-scheme: dark) { mark.diff.legacy { background: #5c1f1f; color: #fff; } mark.diff.candidate { background: #1f4a2a; color: #fff; } }
.filters { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: flex-end; margin: .75rem 0 1rem; } .filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); } .filters input, .filters select { font: inherit; font-size: 13px; padding: .2rem .3rem; min-width: 9rem; }
textarea#checklist { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; padding: .5rem; }
details.route { margin: .5rem 0; border: 1px solid var(--line); border-radius: 6px; padding: .25rem .75rem; } details.route summary { cursor: pointer; padding: .25rem 0; }
input[type=search] { width: 100%; padding: .4rem .6rem; margin: .5rem 0 1rem; font: inherit; } ul.fail { color: var(--bad); }`;
