"""The business, as tables. Import models from here."""

from app.models.activity import ActivityAction
from app.models.activity import ActivityLog
from app.models.base import utcnow
from app.models.billing import Coupon
from app.models.billing import CouponKind
from app.models.billing import CouponRedemption
from app.models.billing import DiscountKind
from app.models.billing import DiscountRule
from app.models.billing import Instalment
from app.models.billing import Invoice
from app.models.billing import InvoiceCounter
from app.models.billing import InvoiceLine
from app.models.billing import PriceRule
from app.models.billing import Refund
from app.models.billing import Shift
from app.models.branches import Branch
from app.models.branches import Floor
from app.models.branches import Zone
from app.models.branches import ZoneKind
from app.models.clients import Client
from app.models.clients import ClientNote
from app.models.clients import ClientSearchKey
from app.models.clients import ClientStatus
from app.models.clients import Gender
from app.models.clients import Language
from app.models.clients import Tag
from app.models.clients import TermsSignature
from app.models.clients import TermsVersion
from app.models.dashboards import DashboardLayout
from app.models.day_figures import BranchDay
from app.models.day_figures import DaysCounted
from app.models.day_figures import LockerWeek
from app.models.day_figures import RetentionMonth
from app.models.day_figures import TermsDay
from app.models.deposits import DepositEntry
from app.models.deposits import DepositEntryKind
from app.models.deposits import DepositsHeld
from app.models.events import DomainEvent
from app.models.exports import ExportFile
from app.models.exports import ExportStatus
from app.models.exports import ReportFrequency
from app.models.exports import ReportSchedule
from app.models.gateways import Gateway
from app.models.gateways import GatewayStatus
from app.models.gateways import GatewayTransaction
from app.models.gateways import PaymentLink
from app.models.lockers import Key
from app.models.lockers import KeyEvent
from app.models.lockers import KeyEventKind
from app.models.lockers import KeyState
from app.models.lockers import Locker
from app.models.lockers import LockerCategory
from app.models.lockers import LockerSize
from app.models.lockers import LockerStatus
from app.models.lockers import LockerStatusChange
from app.models.lost_found import LostItem
from app.models.lost_found import LostItemStatus
from app.models.maintenance import MaintenanceTicket
from app.models.maintenance import TicketPriority
from app.models.maintenance import TicketStatus
from app.models.notifications import Campaign
from app.models.notifications import CampaignStatus
from app.models.notifications import Channel
from app.models.notifications import ConsentChange
from app.models.notifications import MessageKind
from app.models.notifications import MessageStatus
from app.models.notifications import MessageTemplate
from app.models.notifications import Notification
from app.models.payments import Payment
from app.models.payments import PaymentMethod
from app.models.payments import PaymentStatus
from app.models.privacy import DeletionRequest
from app.models.privacy import DeletionStatus
from app.models.privacy import RequestChannel
from app.models.privacy import Requester
from app.models.rentals import Rental
from app.models.rentals import RentalStatus
from app.models.rentals import RentalStatusChange
from app.models.rentals import RentalTerm
from app.models.settings import Setting
from app.models.users import PasswordHistory
from app.models.users import Role
from app.models.users import StaffSession
from app.models.users import User
from app.models.users import WebAuthn
from app.models.waitlist import WaitlistEntry
from app.models.waitlist import WaitlistStatus

__all__ = [
    "BranchDay",
    "DaysCounted",
    "LockerWeek",
    "RetentionMonth",
    "TermsDay",
    "Gateway",
    "GatewayStatus",
    "GatewayTransaction",
    "PaymentLink",
    "Campaign",
    "CampaignStatus",
    "Channel",
    "ConsentChange",
    "MessageKind",
    "MessageStatus",
    "MessageTemplate",
    "Notification",
    "DomainEvent",
    "ExportFile",
    "ExportStatus",
    "ReportFrequency",
    "ReportSchedule",
    "ActivityAction",
    "ActivityLog",
    "Branch",
    "Client",
    "ClientNote",
    "ClientSearchKey",
    "ClientStatus",
    "Coupon",
    "CouponKind",
    "CouponRedemption",
    "DeletionRequest",
    "DeletionStatus",
    "DashboardLayout",
    "DepositEntry",
    "DepositEntryKind",
    "DepositsHeld",
    "DiscountKind",
    "DiscountRule",
    "Floor",
    "Gender",
    "Instalment",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Key",
    "KeyEvent",
    "KeyEventKind",
    "KeyState",
    "Language",
    "Locker",
    "LockerCategory",
    "LockerSize",
    "LockerStatus",
    "LockerStatusChange",
    "LostItem",
    "LostItemStatus",
    "MaintenanceTicket",
    "Payment",
    "PaymentMethod",
    "PaymentStatus",
    "PriceRule",
    "Refund",
    "RequestChannel",
    "Requester",
    "Rental",
    "RentalStatus",
    "RentalStatusChange",
    "RentalTerm",
    "Role",
    "Setting",
    "Shift",
    "Tag",
    "TermsSignature",
    "TermsVersion",
    "TicketPriority",
    "TicketStatus",
    "PasswordHistory",
    "StaffSession",
    "User",
    "WaitlistEntry",
    "WaitlistStatus",
    "WebAuthn",
    "Zone",
    "ZoneKind",
    "utcnow",
]
