"""Campaigns: what operators write in campaign files (which cases, how to dial them, the rules
that bind the dialling), validated and mirrored in the database."""
