"""The member events services: events, invitations with their answers and check-ins, the demo."""
