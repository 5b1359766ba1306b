"""Planning: the pure steps of a network's life, the pass that queues them, and the messages of each step."""
