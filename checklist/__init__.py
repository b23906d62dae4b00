"""The checklist page and the closure record.

- `page`: a lossless reader and editor of the wiki page (items, statuses, cells, the Attachments section).
- `items`: which status a run gives each checklist item.
- `closure`: the closure record of one run, read from its evidence; `reports` renders it as Markdown, HTML and JSON.
- `record`: a run or a person's manual step reported back to the page; `attachments`: the wiki's `.attachments/`.
- `git`: commit the page and its attachments when the wiki is a git clone; `cli`: `revoke checklist show|mark`.

Nothing here calls a connector: the engine and CLI hand this package the run folder.
"""
