"""The peer's admin (copied into the generated project as gym/admin.py; see bench/peer).

Stock ModelAdmins over inspectdb's models, each equivalent to a Locker desk list
(admin_views/people.py, billing.py, places.py, activity.py): the same columns, search
fields, filters and default order. Where ours has something Django's stock admin does
not (the client list's tag and payment-state filters, the branch-day date filters,
free-text filters on a column), the closest stock thing is used or it is left out:

- ours' day filters → DateFieldListFilter on the same column (no query of its own);
- "branch.name", "zone.name", "category.name" → RelatedFieldListFilter (lists the rows);
- enum columns → ChoicesFieldListFilter (the models got choices=, see bench/peer);
- free-text filters (client tier, activity user email), tag and payment state: left
  out; stock Django would offer AllValuesFieldListFilter, a SELECT DISTINCT over the
  whole table on every page, which ours' text box does not cost.

Read-only: nobody may add, change or delete (so no action checkboxes either), and the
database connection itself is read-only (bench/peer django_database()).
"""

from django.contrib import admin
from django.db.models import Exists
from django.db.models import OuterRef
from django.db.models import Subquery
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import ActivityLog
from .models import Client
from .models import Invoice
from .models import Locker
from .models import Payment
from .models import Refund
from .models import Rental

# Payment statuses whose money counts as received (app/services/billing.py RECEIVED).
RECEIVED = ("PAID", "REFUNDED")


class ReadOnlyAdmin(admin.ModelAdmin):
    # Locker desk's page size (admin_views/base.py); Django's default is 100.
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Client)
class ClientAdmin(ReadOnlyAdmin):
    list_display = ("full_name", "phone", "email", "gender", "status", "tier", "branch", "registered_at")
    search_fields = ("full_name", "phone", "email", "nid")
    list_filter = ("status", "gender", "registered_at", "branch")
    ordering = ("-registered_at",)
    list_select_related = ("branch",)


@admin.register(Rental)
class RentalAdmin(ReadOnlyAdmin):
    list_display = ("locker", "client", "term", "starts_at", "ends_at", "status", "price_poisha", "branch")
    search_fields = ("locker__number", "client__full_name", "client__phone")
    list_filter = ("status", "term", "ends_at", "starts_at", "branch")
    ordering = ("-starts_at",)
    list_select_related = ("locker", "client", "branch")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("paid_at", "client", "rental", "amount_poisha", "method", "status", "reference",
                    "branch")
    search_fields = ("reference", "client__full_name", "client__phone")
    list_filter = ("status", "method", "paid_at", "branch")
    ordering = ("-paid_at",)
    # A rental reads "#id locker · client" (gym/models.py), as ours.
    list_select_related = ("client", "rental__locker", "rental__client", "branch")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "client", "issued_at", "due_on", "total_poisha", "state")
    search_fields = ("number", "client__phone")
    ordering = ("-issued_at",)
    list_select_related = ("client",)

    def get_queryset(self, request):
        # The state is derived from payments and refunds, as ours (billing.invoice_state);
        # read with the page's rows as subqueries instead of one query per row.
        payments = Payment.objects.filter(invoice=OuterRef("pk"))
        paid = (payments.filter(status__in=RECEIVED).values("invoice")
                .annotate(total=Sum("amount_poisha")).values("total"))
        refunded = (Refund.objects.filter(payment__invoice=OuterRef("pk")).values("payment__invoice")
                    .annotate(total=Sum("amount_poisha")).values("total"))
        return super().get_queryset(request).annotate(
            paid=Coalesce(Subquery(paid), 0), refunded=Coalesce(Subquery(refunded), 0),
            pending=Exists(payments.filter(status="PENDING")))

    @admin.display(description="State")
    def state(self, invoice):
        # app/services/billing.py invoice_state, without instalment due dates.
        if invoice.cancelled_at is not None:
            return "CANCELLED"
        net = invoice.paid - invoice.refunded
        if invoice.paid > 0 and invoice.refunded > 0 and net <= 0:
            return "REFUNDED"
        if net >= invoice.total_poisha:
            return "PAID"
        if net <= 0 and invoice.pending:
            return "PENDING"
        if invoice.due_on < timezone.localdate():
            return "OVERDUE"
        return "PARTIAL" if net > 0 else "DUE"


@admin.register(Locker)
class LockerAdmin(ReadOnlyAdmin):
    list_display = ("number", "branch", "zone", "size", "category", "status", "notes")
    search_fields = ("number",)
    list_filter = ("status", "size", "zone", "category", "branch")
    ordering = ("number",)
    # A zone reads "floor · zone" (gym/models.py), as ours.
    list_select_related = ("branch", "zone__floor", "category")


@admin.register(ActivityLog)
class ActivityLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "user_email", "action", "model", "object_id", "summary", "ip")
    search_fields = ("user_email", "summary", "object_id")
    list_filter = ("action", "model", "at", "branch")
    ordering = ("-at",)
