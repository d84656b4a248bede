"""Collaboration between firms on their own terms: offers over a firm's own data, each with a usage policy in a
small closed ODRL 2.2 profile (:mod:`.policy`), negotiations that follow the Dataspace Protocol's states, pulls
checked against the agreement every time, and a hash-chained usage log that proves itself (:mod:`.ledger`)."""
