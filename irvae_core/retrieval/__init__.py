"""Face retrieval by example (paper Section 5.2): embeddings of a split, the SAR / DAR protocol and P@K, uploads."""
