"""What every feature shares: settings, database, accounts, tenancy, i18n, errors.

May import nothing from the features.
"""
