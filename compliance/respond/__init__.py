"""What the reader gets: notices rendered, placed in HTML and JSON bodies as they stream, 451 blocks, cache headers."""
