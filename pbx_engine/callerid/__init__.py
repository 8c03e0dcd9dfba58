"""Caller ID: the pools of numbers we present, and which one each call shows.

Owns the number-pool file (validated, reloadable without a restart), where a number is (area,
region, mobile or not, from `phonenumbers`), the pure choice of a number for a debtor
(`pick_caller_id`: his area, else his region, else the fallback; mobiles for mobiles; round
robin, least recently used, never the same one twice to him within N days; daily caps,
cool-downs, numbers rested for bad health), and the service that applies it to live calls.
"""
