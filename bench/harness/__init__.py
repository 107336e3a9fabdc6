"""What tests and benchmarks share: a served app, real clients, Chromium and its fake microphone."""
