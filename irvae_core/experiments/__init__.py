"""Work that runs runs: the one train-and-evaluate, sweeps through an engine (local or Ray), background jobs,
the shipped examples and the paper's reproductions."""
