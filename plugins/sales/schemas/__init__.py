"""Marshmallow schemas of the sales API: what each endpoint reads and returns (OpenAPI from these)."""
from .common import VERSION, Currency, Money, Pct, VersionMixin
from .leads import (LeadSchema, LeadUpdateSchema, LeadListArgs, BulkLeadsSchema, QualifySchema, QualifyResultSchema,
                    ReasonSchema, LeadPage)
from .pipeline import (StageSchema, OpportunitySchema, OpportunityUpdateSchema, OpportunityListArgs, MoveSchema,
                       StaySchema, StageTotalSchema, StageHistorySchema, BoardColumnSchema, BoardArgs,
                       SuggestionSchema, OpportunityPage)
from .catalogue import (ProductSchema, ProductUpdateSchema, ProductListArgs, PriceListItemSchema, PriceListSchema,
                        ProductPage)
from .orders import (QuoteLineSchema, QuoteSchema, QuoteUpdateSchema, QuoteListArgs, DecisionSchema, QuoteActionSchema,
                     ToOrderSchema, OrderLineSchema, OrderSchema, OrderListArgs, InvoiceSchema, InvoiceListArgs,
                     PaymentSchema, CurrencyOrdersSchema, CurrencyDueSchema, CustomerSalesSchema, QuotePage, OrderPage,
                     InvoicePage)
from .activities import (ActivitySchema, ActivityUpdateSchema, ActivityListArgs, CompleteSchema, ExpenseSchema,
                         TargetSchema, TargetListArgs, RateSchema, ActivityPage, ExpensePage)
from .kpis import KpiArgs, KpiValueSchema, KpiReportSchema, MetricShareSchema, MetricSchema, MetricValueArgs

__all__ = ['ActivityListArgs', 'ActivityPage', 'ActivitySchema', 'ActivityUpdateSchema', 'BoardArgs',
           'BoardColumnSchema', 'BulkLeadsSchema', 'CompleteSchema', 'Currency', 'CurrencyDueSchema',
           'CurrencyOrdersSchema', 'CustomerSalesSchema', 'DecisionSchema', 'ExpensePage', 'ExpenseSchema',
           'InvoiceListArgs', 'InvoicePage', 'InvoiceSchema', 'KpiArgs', 'KpiReportSchema', 'KpiValueSchema',
           'LeadListArgs', 'LeadPage', 'LeadSchema', 'LeadUpdateSchema', 'MetricSchema', 'MetricShareSchema',
           'MetricValueArgs', 'Money', 'MoveSchema', 'OpportunityListArgs', 'OpportunityPage', 'OpportunitySchema',
           'OpportunityUpdateSchema', 'OrderLineSchema', 'OrderListArgs', 'OrderPage', 'OrderSchema',
           'PaymentSchema', 'Pct', 'PriceListItemSchema', 'PriceListSchema', 'ProductListArgs', 'ProductPage',
           'ProductSchema', 'ProductUpdateSchema', 'QualifyResultSchema', 'QualifySchema', 'QuoteActionSchema',
           'QuoteLineSchema', 'QuoteListArgs', 'QuotePage', 'QuoteSchema', 'QuoteUpdateSchema', 'RateSchema',
           'ReasonSchema', 'StageHistorySchema', 'StageSchema', 'StageTotalSchema', 'StaySchema',
           'SuggestionSchema', 'TargetListArgs', 'TargetSchema', 'ToOrderSchema', 'VERSION', 'VersionMixin']
