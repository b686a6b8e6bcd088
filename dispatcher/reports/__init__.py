"""The bar's reports, on the domain's side.

- `fairness`: every figure of a territory and period, computed with SQL aggregates;
- `flags`: the pocket-lawyer detector (requester × lawyer pairs);
- `rows`: the shapes of the figures (TypedDicts: the JSON the API answers, the audit chain hashes);
- `queries`: the SQL pieces the figures and the flags share;
- `tables`: the report's tables as CSV;
- `render`: the report drawn and rendered as self-contained HTML or PDF (templates inside);
- `snapshots`: the nightly snapshot of every report into the audit chain;
- `commands`: the bar's command-line commands.

Nothing is imported here: the command line registers `commands` without paying for scipy or
matplotlib, which only the modules that compute or draw import.
"""
