"""The demo: embedded mail servers, a scripted cast and a virtual clock (an optional extra)."""
