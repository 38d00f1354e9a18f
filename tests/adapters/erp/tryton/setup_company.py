"""Run by the Tryton venv's python: company (CNY), fiscal years, chart of accounts, payment term.

Usage: python setup_company.py <database name> <trytond config file>
"""
import datetime
import sys
from decimal import Decimal

from proteus import Model, config

config.set_trytond(database=sys.argv[1], config_file=sys.argv[2])

from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts  # noqa: E402
from trytond.modules.account_invoice.tests.tools import (create_payment_term,  # noqa: E402
                                                          set_fiscalyear_invoice_sequences)
from trytond.modules.company.tests.tools import create_company, get_company  # noqa: E402

Currency = Model.get("currency.currency")
found = Currency.find([("code", "=", "CNY")])
cny = found[0] if found else Currency(name="Renminbi", code="CNY", symbol="¥", rounding=Decimal("0.01"), digits=2)
cny.save()
create_company(currency=cny)
company = get_company()
for year in (2025, 2026, 2027):
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company, today=datetime.date(year, 6, 1)))
    fiscalyear.click("create_period")
create_chart(company)
accounts = get_accounts(company)
term = create_payment_term()
term.save()
print(f"company={company.id} receivable={accounts['receivable'].id} revenue={accounts['revenue'].id} "
      f"payment_term={term.id}")
