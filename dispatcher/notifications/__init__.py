"""Notifications that leave the building: an invitation reaches its lawyer through the
`apprise` library (e-mail, SMS gateways, chat and push services), each channel's attempt is
recorded with the outbox message, and an invitation nobody could be told of is undeliverable.

texts      the three languages' words, in one table
message    what an invitation's notification says, read from the database at send time
channels   the lawyer's apprise URLs and one try of each (`AppriseChannel`)
follow_up  the invitation's delivery, and when to give up (`InvitationFollowUp`)
"""

from dispatcher.notifications.channels import AppriseChannel, channel_name, lawyer_urls
from dispatcher.notifications.follow_up import InvitationFollowUp
from dispatcher.notifications.message import Notice, compose

__all__ = [
    "AppriseChannel",
    "InvitationFollowUp",
    "Notice",
    "channel_name",
    "compose",
    "lawyer_urls",
]
