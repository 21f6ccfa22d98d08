"""An example third-party plugin package for the aesthetic-pretext harness."""
