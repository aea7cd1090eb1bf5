"""The run store on disk: run folders, their lock, atomic files, checkpoints and summaries for listings."""
