"""One deployment as parts: its run state (the registry record and events), the strategies'
plans, the watchers of the bake, the endings, and the run that puts them together."""
