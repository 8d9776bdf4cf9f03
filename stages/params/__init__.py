"""The ``params-check`` stage: params.yaml checked whole before any pipeline's first stage."""
