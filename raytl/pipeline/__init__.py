"""The pipeline: phases of a trial, the shared phase store, and the run directory."""
