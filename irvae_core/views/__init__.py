"""What each page of the app shows, computed without any UI: latent views, walks, poses, retrieval queries."""
