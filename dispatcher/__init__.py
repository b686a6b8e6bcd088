"""The counsel dispatcher's domain: registry, allocation, workflow, deadlines, outbox, audit."""
