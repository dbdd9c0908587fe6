"""Notifications to the people who decide: a customer's admins hear of consent requests."""
