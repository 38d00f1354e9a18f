"""Bulk imports of the sales records: products, price lists, orders with lines, invoices, payments, opportunities."""
