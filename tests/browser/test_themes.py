"""Can every word on the desk's main pages be read, in light mode and in dark mode (WCAG AA)?

For each visible piece of text the page itself works out the colour of the text
and of what lies behind it (the element's background, or its parents' until one
is opaque, semi-transparent layers blended in) and their contrast ratio by the
WCAG 2 relative-luminance formula. AA asks 4.5:1, or 3:1 for large text (24px,
or 18.66px in bold). Disabled controls are exempt, as WCAG exempts them.
"""

import re

import pytest

from app.extensions import db
from app.models import Invoice
from app.models import Key
from app.models import LockerStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import handover
from app.services import rentals
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

# Every text on the page below AA, as "ratio (needed) selector: text" lines.
CONTRAST_SCRIPT = """
() => {
  const parse = (css) => {
    const m = css && css.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, below) => ({
    r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a), a: 1});
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
  // The backgrounds the text may stand on: one colour, or each colour of a gradient.
  const backgrounds = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      const gradient = style.backgroundImage.match(/rgba?\\([^)]+\\)/g);
      if (gradient) return gradient.map((c) => layers.reduceRight((b, l) => over(l, b), parse(c)));
      const colour = parse(style.backgroundColor);
      if (colour && colour.a > 0) {
        layers.push(colour);
        if (colour.a >= 1) break;
      }
    }
    const base = canvas && canvas.a >= 1 ? canvas : {r: 255, g: 255, b: 255, a: 1};
    return [layers.reduceRight((below, layer) => over(layer, below), base)];
  };
  const name = (el) => {
    let path = [];
    for (let node = el; node && node !== document.body && path.length < 3; node = node.parentElement) {
      path.unshift(node.tagName.toLowerCase() + (node.id ? '#' + node.id : '')
        + [...node.classList].map((c) => '.' + c).join(''));
      if (node.id) break;
    }
    return path.join(' > ');
  };
  const opacity = (el) => {
    let value = 1;
    for (let node = el; node; node = node.parentElement) value *= Number(getComputedStyle(node).opacity);
    return value;
  };
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 1 && box.height > 1 && style.visibility === 'visible'
      && !el.closest('[hidden], [aria-hidden=true], .sr-only');
  };
  const problems = [];
  const check = (el, text, style) => {
    if (el.matches(':disabled, .disabled') || el.closest('.disabled, :disabled')) return;
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const colour = parse(style.color);
    colour.a *= opacity(el);
    for (const background of backgrounds(el)) {
      const value = ratio(over(colour, background), background);
      if (value < needed - 0.005) {
        problems.push(`${value.toFixed(2)} (${needed}) ${name(el)}: ${text.trim().slice(0, 40)}`);
        return;
      }
    }
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION'].includes(el.tagName) || !shown(el)) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join('');
    if (own.trim()) check(el, own, getComputedStyle(el));
    if (el.matches('input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea, select')) {
      if (el.value) check(el, el.value, getComputedStyle(el));
      else if (el.placeholder) check(el, el.placeholder, getComputedStyle(el, '::placeholder'));
    }
  }
  return problems;
}
"""


def _low_contrast(page):
    """The texts of the open page under AA contrast (empty when every text passes)."""
    page.wait_for_load_state("networkidle")
    return page.evaluate(CONTRAST_SCRIPT)


def _a_branch_in_use(desk):
    """A branch whose grid shows every locker status, a client who rents with a key and owes."""
    zone = desk.make_zone(kind=ZoneKind.MEN)
    by_status = {status: desk.make_locker(zone=zone) for status in LockerStatus}
    for status, locker in by_status.items():
        if status not in (LockerStatus.AVAILABLE, LockerStatus.ASSIGNED):
            locker.status = status
    rented = by_status[LockerStatus.ASSIGNED]  # assigned below, by the desk's own service
    db.session.add(Key(locker=rented, tag=f"K-{rented.number}"))
    client = desk.make_client(branch=zone.branch, name="Rakib Hasan")
    db.session.commit()
    rental = rentals.assign(rented.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    key = db.session.execute(db.select(Key).where(Key.locker_id == rented.id)).scalar_one()
    handover.issue_key(rented.id, key.id, deposit_poisha=50000, by_user_id=None)
    invoice = db.session.execute(db.select(Invoice).where(Invoice.rental_id == rental.id)).scalar_one()
    return zone.branch, rented, client, invoice


def _desk_pages(branch, locker, client, invoice):
    return {
        "dashboard": "/admin/",
        "locker grid": f"/admin/locker_grid/?branch={branch.id}",
        "client list": "/admin/clients/",
        "client profile": f"/admin/client_profile/?id={client.id}",
        "key desk": f"/admin/key_desk/?locker_id={locker.id}",
        "take payment": f"/admin/take_payment/?invoice_id={invoice.id}",
    }


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_of_the_main_pages_has_aa_contrast(live_desk, page, theme):
    """Sign-in page, dashboard, grid, clients, profile, key desk, payment: all readable."""
    base_url, desk = live_desk
    branch, locker, client, invoice = _a_branch_in_use(desk)
    manager = desk.make_user("Manager", branch=branch, full_name="Nasrin Akter")
    problems = {}

    # Before signing in, the page follows the computer's preference.
    page.emulate_media(color_scheme=theme)
    page.goto(f"{base_url}/login")
    problems["login"] = _low_contrast(page)
    log_in(page, base_url, manager)
    if theme == "dark":
        # The switch in the top bar, a real POST with its CSRF token, back to the same page.
        page.click(".theme-switch button[value=dark]")
        page.wait_for_url(re.compile(r".*/admin/$"))
    darkly = page.locator('link[href*="bootswatch-darkly"]').count()
    assert darkly == (1 if theme == "dark" else 0), "Darkly in dark mode only"

    for name, path in _desk_pages(branch, locker, client, invoice).items():
        page.goto(base_url + path)
        if name == "locker grid":
            page.wait_for_selector("#grid .tile")
        problems[name] = _low_contrast(page)
        page.screenshot(path=str(ARTIFACTS / f"theme-{theme}-{name.replace(' ', '-')}.png"),
                        full_page=True)
    unreadable = [f"{name}: {line}" for name, found in problems.items() for line in found]
    assert not unreadable, f"{len(unreadable)} texts under AA in {theme} mode:\n" + "\n".join(unreadable)
