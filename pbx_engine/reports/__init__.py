"""Figures supervisors read: per campaign and per agent and day (contact rate, right-party
contacts, promises and those kept, abandon rate, handle time), occupancy, CSV export. The
arithmetic is pure; the sums come from `storage.reports.daily_figures`."""
