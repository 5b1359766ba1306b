"""One incoming mail by what it is: an RSVP, an evaluation (or a reply to a summary preview), a roll call, a bounce.

Each handler takes the inbox's ``Processor`` (``leernet.replies.processor``), which reads,
classifies and looks up the mail, and runs inside its transaction.
"""
