"""The messages the app ships with, in Bengali and English, for every kind and channel (SPEC N1).

`install_defaults()` adds any that are missing and never touches one staff
have edited. SMS texts are kept short: Bengali goes as UCS-2, 70 characters a
message and 67 a part. WhatsApp texts are the desk's copy of templates to be
approved by Meta under the names given; Meta numbers their placeholders in the
order they appear.
"""

from app.extensions import db
from app.models import Channel
from app.models import Language
from app.models import MessageKind
from app.models import MessageTemplate

K, C, BN, EN = MessageKind, Channel, Language.BENGALI, Language.ENGLISH

WHATSAPP_NAMES = {
    K.WELCOME: "locker_welcome", K.ASSIGNMENT: "locker_assigned", K.RECEIPT: "locker_receipt",
    K.REMINDER: "locker_expiry_reminder", K.OVERDUE: "locker_overdue",
    K.RESERVATION_LAPSED: "locker_reservation_lapsed", K.WAITLIST_OFFER: "locker_waitlist_offer",
    K.ABANDONED: "locker_abandoned", K.PAYMENT_LINK: "locker_payment_link",
}

# (kind, channel, language): (subject, body)
DEFAULTS = {
    # --- welcome ---
    (K.WELCOME, C.EMAIL, EN): (
        "Welcome to {{ gym_name }}",
        "Dear {{ client_name }},\n\nWelcome to {{ gym_name }}. You are now registered for a "
        "locker. Our desk is open {{ gym_hours }}.\n\n{{ gym_name }}\n{{ gym_address }}"),
    (K.WELCOME, C.EMAIL, BN): (
        "{{ gym_name }}-এ স্বাগতম",
        "প্রিয় {{ client_name }},\n\n{{ gym_name }}-এ আপনাকে স্বাগতম। লকারের জন্য আপনার "
        "নিবন্ধন সম্পন্ন হয়েছে। আমাদের ডেস্ক খোলা থাকে {{ gym_hours }}।\n\n{{ gym_name }}\n"
        "{{ gym_address }}"),
    (K.WELCOME, C.SMS, EN): (
        "", "Welcome to {{ gym_name }}, {{ client_name }}! Desk hours: {{ gym_hours }}."),
    (K.WELCOME, C.SMS, BN): (
        "", "{{ gym_name }}-এ স্বাগতম, {{ client_name }}! ডেস্ক খোলা {{ gym_hours }}।"),
    (K.WELCOME, C.WHATSAPP, EN): (
        "", "Welcome to {{ gym_name }}, {{ client_name }}! Our desk is open {{ gym_hours }}."),
    (K.WELCOME, C.WHATSAPP, BN): (
        "", "{{ gym_name }}-এ স্বাগতম, {{ client_name }}! আমাদের ডেস্ক খোলা থাকে "
            "{{ gym_hours }}।"),
    # --- assignment ---
    (K.ASSIGNMENT, C.EMAIL, EN): (
        "Your locker {{ locker_number }} at {{ gym_name }}",
        "Dear {{ client_name }},\n\nLocker {{ locker_number }} is yours until "
        "{{ expiry_date }}.{% if key_tag %} Your key is {{ key_tag }}.{% endif %}\n"
        "Opening hours: {{ gym_hours }}.\n\n{{ gym_name }}"),
    (K.ASSIGNMENT, C.EMAIL, BN): (
        "{{ gym_name }}-এ আপনার লকার {{ locker_number }}",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} {{ expiry_date }} পর্যন্ত "
        "আপনার।{% if key_tag %} আপনার চাবি {{ key_tag }}।{% endif %}\n"
        "খোলার সময়: {{ gym_hours }}।\n\n{{ gym_name }}"),
    (K.ASSIGNMENT, C.SMS, EN): (
        "", "Locker {{ locker_number }} is yours until {{ expiry_date }}. "
            "{{ gym_name }}, {{ gym_hours }}"),
    (K.ASSIGNMENT, C.SMS, BN): (
        "", "লকার {{ locker_number }} আপনার, মেয়াদ {{ expiry_date }} পর্যন্ত। {{ gym_name }}"),
    (K.ASSIGNMENT, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, locker {{ locker_number }} is yours until "
            "{{ expiry_date }}. Opening hours: {{ gym_hours }}."),
    (K.ASSIGNMENT, C.WHATSAPP, BN): (
        "", "{{ client_name }}, লকার {{ locker_number }} {{ expiry_date }} পর্যন্ত আপনার। "
            "খোলার সময়: {{ gym_hours }}।"),
    # --- receipt ---
    (K.RECEIPT, C.EMAIL, EN): (
        "Receipt for {{ amount }} – {{ gym_name }}",
        "Dear {{ client_name }},\n\nWe have received {{ amount }}"
        "{% if invoice_number %} for invoice {{ invoice_number }}{% endif %}. "
        "Your receipt is attached.\n\n{{ gym_name }}"),
    (K.RECEIPT, C.EMAIL, BN): (
        "{{ amount }} এর রসিদ – {{ gym_name }}",
        "প্রিয় {{ client_name }},\n\n{% if invoice_number %}ইনভয়েস {{ invoice_number }} এর "
        "জন্য {% endif %}{{ amount }} পেমেন্ট পেয়েছি। রসিদ সংযুক্ত করা হলো।\n\n{{ gym_name }}"),
    (K.RECEIPT, C.SMS, EN): (
        "", "Received {{ amount }}{% if invoice_number %} for {{ invoice_number }}{% endif %}. "
            "Thank you! {{ gym_name }}"),
    (K.RECEIPT, C.SMS, BN): (
        "", "{{ amount }} পেমেন্ট পেয়েছি। ধন্যবাদ! {{ gym_name }}"),
    (K.RECEIPT, C.WHATSAPP, EN): (
        "", "Thank you {{ client_name }}, we received {{ amount }}. Your receipt: "
            "{{ receipt_link }}"),
    (K.RECEIPT, C.WHATSAPP, BN): (
        "", "ধন্যবাদ {{ client_name }}, {{ amount }} পেমেন্ট পেয়েছি। আপনার রসিদ: "
            "{{ receipt_link }}"),
    # --- reminder ---
    (K.REMINDER, C.EMAIL, EN): (
        "Your locker {{ locker_number }} expires on {{ expiry_date }}",
        "Dear {{ client_name }},\n\nYour rental of locker {{ locker_number }} ends on "
        "{{ expiry_date }}. Renew at the desk{% if amount %} ({{ amount }}){% endif %} to keep "
        "it.\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.REMINDER, C.EMAIL, BN): (
        "আপনার লকার {{ locker_number }} এর মেয়াদ শেষ হবে {{ expiry_date }}",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} এর ভাড়ার মেয়াদ শেষ হবে "
        "{{ expiry_date }}। লকারটি রাখতে ডেস্কে নবায়ন করুন{% if amount %} ({{ amount }})"
        "{% endif %}।\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.REMINDER, C.SMS, EN): (
        "", "Locker {{ locker_number }} expires {{ expiry_date }}. Renew at the desk. "
            "{{ gym_name }}"),
    (K.REMINDER, C.SMS, BN): (
        "", "লকার {{ locker_number }} এর মেয়াদ শেষ {{ expiry_date }}। নবায়ন করুন।"),
    (K.REMINDER, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, your locker {{ locker_number }} expires on "
            "{{ expiry_date }}. Please renew at the desk."),
    (K.REMINDER, C.WHATSAPP, BN): (
        "", "{{ client_name }}, আপনার লকার {{ locker_number }} এর মেয়াদ শেষ হবে "
            "{{ expiry_date }}। অনুগ্রহ করে ডেস্কে নবায়ন করুন।"),
    # --- overdue ---
    (K.OVERDUE, C.EMAIL, EN): (
        "Locker {{ locker_number }}: your rental ended {{ days }} day(s) ago",
        "Dear {{ client_name }},\n\nYour rental of locker {{ locker_number }} ended on "
        "{{ expiry_date }}.{% if amount %} You owe {{ amount }}.{% endif %} Please renew or "
        "empty the locker and return the key at the desk.\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.OVERDUE, C.EMAIL, BN): (
        "লকার {{ locker_number }}: ভাড়ার মেয়াদ {{ days }} দিন আগে শেষ হয়েছে",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} এর ভাড়ার মেয়াদ "
        "{{ expiry_date }} তারিখে শেষ হয়েছে।{% if amount %} বকেয়া {{ amount }}।{% endif %} "
        "অনুগ্রহ করে নবায়ন করুন, অথবা লকার খালি করে ডেস্কে চাবি ফেরত দিন।\n\n"
        "{{ gym_name }}, {{ gym_hours }}"),
    (K.OVERDUE, C.SMS, EN): (
        "", "Locker {{ locker_number }} expired {{ expiry_date }}. Renew or return the key. "
            "{{ gym_name }}"),
    (K.OVERDUE, C.SMS, BN): (
        "", "লকার {{ locker_number }} মেয়াদোত্তীর্ণ। নবায়ন করুন বা চাবি ফেরত দিন।"),
    (K.OVERDUE, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, your locker {{ locker_number }} expired on "
            "{{ expiry_date }}. Please renew or return the key at the desk."),
    (K.OVERDUE, C.WHATSAPP, BN): (
        "", "{{ client_name }}, আপনার লকার {{ locker_number }} এর মেয়াদ {{ expiry_date }} "
            "তারিখে শেষ হয়েছে। অনুগ্রহ করে নবায়ন করুন বা ডেস্কে চাবি ফেরত দিন।"),
    # --- reservation lapsed ---
    (K.RESERVATION_LAPSED, C.EMAIL, EN): (
        "Your reservation of locker {{ locker_number }} has lapsed",
        "Dear {{ client_name }},\n\nLocker {{ locker_number }} was held for you, but the "
        "reservation has lapsed and the locker is free again. Ask at the desk if you still want "
        "one.\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.RESERVATION_LAPSED, C.EMAIL, BN): (
        "লকার {{ locker_number }} এর রিজার্ভেশনের মেয়াদ শেষ",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} আপনার জন্য রিজার্ভ করা ছিল, "
        "কিন্তু সময় পেরিয়ে যাওয়ায় লকারটি আবার খালি। এখনও লকার চাইলে ডেস্কে জানান।\n\n"
        "{{ gym_name }}, {{ gym_hours }}"),
    (K.RESERVATION_LAPSED, C.SMS, EN): (
        "", "Your reservation of locker {{ locker_number }} has lapsed. {{ gym_name }}"),
    (K.RESERVATION_LAPSED, C.SMS, BN): (
        "", "লকার {{ locker_number }} এর রিজার্ভেশনের মেয়াদ শেষ। {{ gym_name }}"),
    (K.RESERVATION_LAPSED, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, your reservation of locker {{ locker_number }} has "
            "lapsed."),
    (K.RESERVATION_LAPSED, C.WHATSAPP, BN): (
        "", "{{ client_name }}, লকার {{ locker_number }} এর রিজার্ভেশনের মেয়াদ শেষ হয়েছে।"),
    # --- waitlist offer ---
    (K.WAITLIST_OFFER, C.EMAIL, EN): (
        "A locker is waiting for you: {{ locker_number }}",
        "Dear {{ client_name }},\n\nLocker {{ locker_number }} is held for you until "
        "{{ deadline }}. Come to the desk to take it.\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.WAITLIST_OFFER, C.EMAIL, BN): (
        "আপনার জন্য লকার {{ locker_number }} রিজার্ভ করা হয়েছে",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} {{ deadline }} পর্যন্ত আপনার "
        "জন্য রিজার্ভ করা আছে। নিতে ডেস্কে আসুন।\n\n{{ gym_name }}, {{ gym_hours }}"),
    (K.WAITLIST_OFFER, C.SMS, EN): (
        "", "Locker {{ locker_number }} is held for you until {{ deadline }}. {{ gym_name }}"),
    (K.WAITLIST_OFFER, C.SMS, BN): (
        "", "লকার {{ locker_number }} আপনার জন্য রিজার্ভ, {{ deadline }} পর্যন্ত।"),
    (K.WAITLIST_OFFER, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, locker {{ locker_number }} is held for you until "
            "{{ deadline }}. Come to the desk to take it."),
    (K.WAITLIST_OFFER, C.WHATSAPP, BN): (
        "", "{{ client_name }}, লকার {{ locker_number }} {{ deadline }} পর্যন্ত আপনার জন্য "
            "রিজার্ভ করা আছে। নিতে ডেস্কে আসুন।"),
    # --- abandoned ---
    (K.ABANDONED, C.EMAIL, EN): (
        "Locker {{ locker_number }} has been emptied",
        "Dear {{ client_name }},\n\nYour rental of locker {{ locker_number }} ended on "
        "{{ expiry_date }} and was not renewed, so the locker has been emptied. Your things are "
        "kept at the desk's lost & found; ask for them there.\n\n{{ gym_name }}, "
        "{{ gym_hours }}"),
    (K.ABANDONED, C.EMAIL, BN): (
        "লকার {{ locker_number }} খালি করা হয়েছে",
        "প্রিয় {{ client_name }},\n\nলকার {{ locker_number }} এর ভাড়ার মেয়াদ "
        "{{ expiry_date }} তারিখে শেষ হয়েছে এবং নবায়ন করা হয়নি, তাই লকারটি খালি করা "
        "হয়েছে। আপনার জিনিসপত্র ডেস্কের হারানো ও প্রাপ্তি বিভাগে রাখা আছে।\n\n"
        "{{ gym_name }}, {{ gym_hours }}"),
    (K.ABANDONED, C.SMS, EN): (
        "", "Locker {{ locker_number }} was emptied. Collect your things at the desk. "
            "{{ gym_name }}"),
    (K.ABANDONED, C.SMS, BN): (
        "", "লকার {{ locker_number }} খালি করা হয়েছে। জিনিসপত্র ডেস্ক থেকে নিন।"),
    (K.ABANDONED, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, locker {{ locker_number }} was emptied after your "
            "rental ended. Collect your things at the desk."),
    (K.ABANDONED, C.WHATSAPP, BN): (
        "", "{{ client_name }}, ভাড়ার মেয়াদ শেষ হওয়ায় লকার {{ locker_number }} খালি করা "
            "হয়েছে। জিনিসপত্র ডেস্ক থেকে নিন।"),
    # --- payment link (sent by staff from the invoice) ---
    (K.PAYMENT_LINK, C.EMAIL, EN): (
        "Pay invoice {{ invoice_number }} online",
        "Dear {{ client_name }},\n\n{{ amount }} is due on invoice {{ invoice_number }}. You "
        "can pay it online with bKash, Nagad or a card here:\n{{ payment_link }}\n\n"
        "{{ gym_name }}, {{ gym_hours }}"),
    (K.PAYMENT_LINK, C.EMAIL, BN): (
        "ইনভয়েস {{ invoice_number }} অনলাইনে পরিশোধ করুন",
        "প্রিয় {{ client_name }},\n\nইনভয়েস {{ invoice_number }}-এ বকেয়া {{ amount }}। "
        "বিকাশ, নগদ বা কার্ডে এখানে অনলাইনে পরিশোধ করতে পারেন:\n{{ payment_link }}\n\n"
        "{{ gym_name }}, {{ gym_hours }}"),
    (K.PAYMENT_LINK, C.SMS, EN): (
        "", "Pay {{ amount }} for invoice {{ invoice_number }} online: {{ payment_link }} "
            "{{ gym_name }}"),
    (K.PAYMENT_LINK, C.SMS, BN): (
        "", "বকেয়া {{ amount }} অনলাইনে পরিশোধ করুন: {{ payment_link }}"),
    (K.PAYMENT_LINK, C.WHATSAPP, EN): (
        "", "Hello {{ client_name }}, {{ amount }} is due on invoice {{ invoice_number }}. "
            "Pay online here: {{ payment_link }}"),
    (K.PAYMENT_LINK, C.WHATSAPP, BN): (
        "", "{{ client_name }}, ইনভয়েস {{ invoice_number }}-এ বকেয়া {{ amount }}। অনলাইনে "
            "পরিশোধ করুন: {{ payment_link }}"),
}


def install_defaults():
    """Add every shipped template that is missing; returns how many were added. Commits."""
    existing = set(db.session.execute(db.select(
        MessageTemplate.kind, MessageTemplate.channel, MessageTemplate.language)).all())
    added = 0
    for (kind, channel, language), (subject, body) in DEFAULTS.items():
        if (kind, channel, language) in existing:
            continue
        db.session.add(MessageTemplate(
            kind=kind, channel=channel, language=language, subject=subject or None, body=body,
            whatsapp_name=WHATSAPP_NAMES[kind] if channel is Channel.WHATSAPP else None))
        added += 1
    db.session.commit()
    return added
