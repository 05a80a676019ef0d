#!/usr/bin/env python3
"""Generate the example event stream of one sales quarter for dealflow.

Writes, next to this script:

  quarter.jsonl      one quarter (2026-07-01 .. 2026-09-30) of a small B2B
                     hardware seller: accounts, contacts, marketing leads,
                     deals moving through the pipeline, ad-hoc orders, two
                     supply contracts, account-plan targets and month-end
                     clock ticks.
  with-errors.jsonl  8 lines to ingest after the quarter: 5 valid events and
                     3 bad lines (invalid JSON, a wrong field type, an
                     unknown event type) to exercise rejection reporting.

The output is deterministic: the story is scripted below, and the filler
(times of day, ad-hoc orders, routine calls and e-mails) comes from a
random generator with a fixed seed.  Python 3 standard library only:

    python3 examples/generate_quarter.py

The stream is written for the default configuration (stages lead ->
qualified -> proposal -> negotiation -> won | lost, the default team and
product price list) and the default rules:

  * lead -> qualified        on the first `meeting` or `demo` on the deal;
  * qualified -> proposal    on a `proposal_sent` activity on the deal;
  * proposal -> negotiation  on an activity on the deal with a decision maker
                             (a contact whose role is buyer, technical or
                             executive);
  * a requested move to negotiation is refused while no activity on the deal
    involved a decision maker;
  * won / lost are requested moves (a deal.upserted with only id, account_id
    and stage);
  * an account is key when any of: revenue with us over the last 12 months
    (orders + won deals) >= 150000; an active contract of >= 24 months;
    >= 1000 employees and >= 3 open deals; a key parent account.

To keep the intended outcome unambiguous whatever the rule details, deal
activities before a deal reaches `proposal` never involve a decision maker
(they name a contact with role `other`, or no contact).  So a decision
maker is first engaged exactly where the story wants the move to
negotiation.

At the end the script replays the stream through a small reference model
of those rules, checks that the story came out as designed (key accounts,
refused moves, nobody else accidentally key) and prints a summary.
"""

import json
import random
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20260701
rng = random.Random(SEED)

HERE = Path(__file__).resolve().parent
QUARTER_FILE = HERE / "quarter.jsonl"
ERRORS_FILE = HERE / "with-errors.jsonl"

QUARTER_START = date(2026, 7, 1)
QUARTER_END = date(2026, 9, 30)
# Nobody works on these days (US: Independence Day observed, Labor Day).
HOLIDAYS = {date(2026, 7, 3), date(2026, 9, 7)}
MONTH_ENDS = [date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30)]

# ---------------------------------------------------------------------------
# The company: price list and sales team (matches the default config.toml)
# ---------------------------------------------------------------------------

PRICES = {
    "GTX Basic": 550,
    "GTX Pro": 4821,
    "MG Special": 55,
    "MG Advanced": 3393,
    "GTX Plus Pro": 5482,
    "GTX Plus Basic": 1096,
    "GTK 500": 26768,
}

# The sales rep owning each region; deals and accounts are owned by the rep.
REP_OF_REGION = {"West": "Ana Ruiz", "East": "Ben Okafor", "Central": "Chloe Martin"}

# Thresholds of the default key-account rule (used by the self-check only).
KEY_REVENUE = 150_000
KEY_CONTRACT_MONTHS = 24
KEY_EMPLOYEES = 1000
KEY_OPEN_DEALS = 3
DECISION_ROLES = {"buyer", "technical", "executive"}

# ---------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------
# The role each account plays in the story is noted on the right.

ACCOUNTS = [
    # --- West (Ana Ruiz) ---
    dict(id="A-1", name="Harbor & Pine Medical", sector="medical", employees=640,
         annual_revenue=118_000_000, region="West"),       # key by revenue (Sep)
    dict(id="A-2", name="Redwood Signal Telecom", sector="telecommunications", employees=8400,
         annual_revenue=2_150_000_000, region="West"),     # key by 3 open deals, then loses it
    dict(id="A-3", name="Sierra Vista Clinics", sector="medical", employees=85,
         annual_revenue=9_400_000, region="West"),         # small, orders
    dict(id="A-4", name="Bluefin Analytics", sector="technology", employees=140,
         annual_revenue=21_500_000, region="West"),        # small, orders
    dict(id="A-5", name="Copperleaf Retail", sector="retail", employees=420,
         annual_revenue=64_000_000, region="West"),        # 12-month contract, stays non-key
    # --- East (Ben Okafor) ---
    dict(id="A-6", name="Northgate Utilities Cooperative", sector="utilities", employees=2600,
         annual_revenue=880_000_000, region="East"),       # key by 36-month contract (Aug)
    dict(id="A-7", name="Northgate Field Services", sector="services", employees=310,
         annual_revenue=47_000_000, region="East", parent_id="A-6"),  # key via its parent
    dict(id="A-8", name="Lighthouse Financial Partners", sector="finance", employees=760,
         annual_revenue=310_000_000, region="East"),       # medium, orders, a refused move
    dict(id="A-9", name="Quarry Lane Studios", sector="entertainment", employees=45,
         annual_revenue=6_200_000, region="East"),         # small, orders, no contacts on file
    dict(id="A-10", name="Ironbridge Staffing Group", sector="employment", employees=12500,
         annual_revenue=1_420_000_000, region="East"),     # large, never more than 2 open deals
    # --- Central (Chloe Martin) ---
    dict(id="A-11", name="Prairie Forge Industries", sector="manufacturing", employees=4900,
         annual_revenue=1_760_000_000, region="Central"),  # large, parent that never becomes key
    dict(id="A-12", name="Prairie Forge Components", sector="manufacturing", employees=380,
         annual_revenue=92_000_000, region="Central", parent_id="A-11"),  # subsidiary, stays non-key
    dict(id="A-13", name="Tallgrass Software", sector="software", employees=120,
         annual_revenue=18_700_000, region="Central"),     # small, orders
    dict(id="A-14", name="Meridian Grain Cooperative", sector="agriculture", employees=230,
         annual_revenue=41_000_000, region="Central",
         added=date(2026, 8, 4)),                          # new customer, came from a trade-show lead
]
ACCOUNT_BY_ID = {a["id"]: a for a in ACCOUNTS}

# Contacts: (id, account, name, role, day added; None = on file at quarter start).
# Harbor & Pine and Northgate Field Services have no executive
# contact, and both become key: a gap the account manager has to close.
CONTACTS = [
    ("C-1", "A-1", "Marisol Ortega", "buyer", None),
    ("C-2", "A-1", "Devin Park", "technical", None),
    ("C-3", "A-1", "Priya Nandakumar", "other", None),
    ("C-4", "A-2", "Gwen Halloran", "buyer", None),
    ("C-5", "A-2", "Tomas Ekberg", "technical", None),
    ("C-6", "A-2", "Leona Brandt", "executive", None),
    ("C-7", "A-2", "Ravi Chaudhry", "other", None),
    ("C-8", "A-3", "Jolene Whitaker", "buyer", None),
    ("C-9", "A-3", "Marco Bellini", "other", None),
    ("C-10", "A-4", "Kenji Moriyama", "buyer", None),
    ("C-11", "A-4", "Alma Reyes", "technical", None),
    ("C-12", "A-4", "Stefan Lund", "executive", None),
    ("C-13", "A-5", "Bianca Ferraro", "buyer", None),
    ("C-14", "A-5", "Howard Pruitt", "executive", None),
    ("C-15", "A-5", "Lucy Tran", "other", None),
    ("C-16", "A-6", "Patrick Doyle", "buyer", None),
    ("C-17", "A-6", "Ingrid Solberg", "technical", None),
    ("C-18", "A-6", "Samuel Achebe", "executive", None),
    ("C-19", "A-6", "Nora Kim", "other", None),
    ("C-20", "A-7", "Wesley Carter", "buyer", None),
    ("C-21", "A-7", "Fatima Bennani", "other", None),
    ("C-22", "A-8", "Olivia Grant", "buyer", None),
    ("C-23", "A-8", "Raj Malhotra", "other", None),
    ("C-24", "A-8", "Catherine Dubois", "executive", None),
    ("C-25", "A-10", "Derek Simmons", "buyer", None),
    ("C-26", "A-10", "Yuki Tanabe", "technical", None),
    ("C-27", "A-10", "Victoria Ashworth", "executive", None),
    ("C-28", "A-11", "Hank Sorensen", "buyer", None),
    ("C-29", "A-11", "Elena Petrova", "technical", None),
    ("C-30", "A-11", "Walter Briggs", "executive", None),
    ("C-31", "A-11", "Jamal Wright", "other", None),
    ("C-32", "A-12", "Kristin Vogel", "buyer", None),
    ("C-33", "A-12", "Luis Navarro", "technical", None),
    ("C-34", "A-12", "Beth Albright", "other", None),
    ("C-35", "A-13", "Nadia Hassan", "buyer", None),
    ("C-36", "A-13", "Owen Fitzgerald", "technical", None),
    ("C-37", "A-13", "Grace Liu", "executive", None),
    # Added during the quarter.
    ("C-38", "A-14", "Carla Jimenez", "buyer", date(2026, 8, 4)),   # met at the trade show
    ("C-39", "A-14", "Peter Lindgren", "executive", date(2026, 8, 4)),
    ("C-40", "A-8", "Aaron Feldman", "technical", date(2026, 8, 10)),
]
CONTACT_BY_ID = {c[0]: c for c in CONTACTS}

# ---------------------------------------------------------------------------
# Marketing leads: (day, company, person, source, region, product, account)
# Most are new prospects; some come from existing customers (account set).
# ---------------------------------------------------------------------------

LEADS = [
    (date(2026, 7, 2), "Alder Creek Dental Group", "Renee Castillo", "website", "West", "GTX Basic", None),
    (date(2026, 7, 7), "Granite Bay Credit Union", "Tobias Reinholt", "website", "West", "GTX Plus Basic", None),
    (date(2026, 7, 9), "Bluefin Analytics", "Sunil Varma", "website", "West", "GTK 500", "A-4"),
    # Heartland Industrial Expo, two days of badge scans.
    (date(2026, 7, 15), "Meridian Grain Cooperative", "Carla Jimenez", "trade show", "Central", "MG Advanced", None),
    (date(2026, 7, 15), "Timberline Construction Supply", "Bart Kowalski", "trade show", "Central", "GTX Plus Basic", None),
    (date(2026, 7, 15), "Upland Water District", "Helen Marsh", "trade show", "Central", "MG Special", None),
    (date(2026, 7, 15), "Prairie Forge Components", "Dale Ostrowski", "trade show", "Central", "GTX Pro", "A-12"),
    (date(2026, 7, 16), "Ironbridge Staffing Group", "Monica Reyes", "trade show", "East", "MG Advanced", "A-10"),
    (date(2026, 7, 16), "Kestrel Aviation Services", "Diego Alvarez", "trade show", "Central", "GTX Pro", None),
    (date(2026, 7, 16), "Riverbend Printing", "Ursula Koenig", "trade show", "East", "MG Special", None),
    (date(2026, 7, 21), "Saltmarsh Seafoods", "Callum Reid", "website", "East", "MG Special", None),
    (date(2026, 7, 28), "Orchard Street Clinics", "Amara Osei", "referral", "West", "GTX Plus Basic", None),
    (date(2026, 8, 4), "Tallgrass Software", "Ivy Chen", "website", "Central", "GTX Plus Basic", "A-13"),
    # Webinar "Rugged devices for field teams".
    (date(2026, 8, 12), "Lighthouse Financial Partners", "Jonah Whitcombe", "webinar", "East", "GTK 500", "A-8"),
    (date(2026, 8, 12), "Emberline Energy", "Sofia Marchetti", "webinar", "West", "GTX Plus Pro", None),
    (date(2026, 8, 12), "Lakeshore Freight", "Grant Holloway", "webinar", "Central", "GTX Plus Basic", None),
    (date(2026, 8, 13), "Juniper Row Schools", "Nina Abernathy", "webinar", "East", "MG Special", None),
    (date(2026, 8, 13), "Copperleaf Retail", "Ethan Brooks", "webinar", "West", "MG Special", "A-5"),
    (date(2026, 8, 13), "Driftwood Hospitality", "Paolo Sandoval", "webinar", "West", "GTX Basic", None),
    (date(2026, 8, 20), "Palisade Insurance", "Rebecca Stone", "email campaign", "East", "GTX Pro", None),
    (date(2026, 8, 25), "Maple Hollow Foods", "Amos Gilbert", "website", "Central", "MG Advanced", None),
    (date(2026, 9, 2), "Vantage Point Security", "Lena Fischer", "partner", "East", "GTX Plus Pro", None),
    (date(2026, 9, 9), "Foxglove Pharmacy Group", "Hugo Martins", "website", "West", "MG Advanced", None),
    # Atlantic Tech Summit.
    (date(2026, 9, 17), "Nimbus Cloudworks", "Zara Quinn", "trade show", "East", "GTK 500", None),
    (date(2026, 9, 17), "Hollow Oak Architecture", "Felix Adeyemi", "trade show", "East", "GTX Pro", None),
    (date(2026, 9, 17), "Brightwater Logistics", "Mara Svensson", "trade show", "East", "GTX Plus Basic", None),
    (date(2026, 9, 24), "Canyon Peak Outfitters", "Jesse Whitlock", "website", "West", "MG Special", None),
]

# ---------------------------------------------------------------------------
# Deals
# ---------------------------------------------------------------------------
# Each deal: a story key (used in comments and the summary), account,
# product, quantity, a short name, the day it is created (always at stage
# "lead") and its steps.  A step is (day, what, contact):
#   what = call | email | meeting | demo | proposal_sent -> activity.logged on the deal
#   what = negotiation | won | lost                       -> requested stage move
# Deal ids D-n are handed out in order of creation.

def d(month, day):
    """A day of 2026 (keeps the script below short)."""
    return date(2026, month, day)


DEALS = [
    # --- Harbor & Pine Medical: two wins plus steady orders push its
    # revenue with us over 150000 on the second win -> KEY BY REVENUE.
    dict(key="hp-imaging", account="A-1", product="GTX Pro", qty=12,
         name="Imaging cart refresh", created=d(7, 2), steps=[
             (d(7, 8), "demo", "C-3"),
             (d(7, 16), "proposal_sent", "C-3"),
             (d(7, 22), "meeting", "C-1"),        # buyer -> negotiation
             (d(8, 4), "won", None)]),
    dict(key="hp-clinics", account="A-1", product="GTX Plus Pro", qty=14,
         name="Clinic network rollout", created=d(7, 27), steps=[
             (d(8, 5), "meeting", "C-3"),
             (d(8, 12), "email", "C-3"),
             (d(8, 19), "proposal_sent", "C-3"),
             (d(8, 26), "call", "C-2"),           # technical -> negotiation
             (d(9, 9), "won", None)]),            # revenue crosses 150000 here
    dict(key="hp-lab", account="A-1", product="MG Advanced", qty=5,
         name="Lab tablets", created=d(9, 16), steps=[
             (d(9, 24), "demo", None)]),          # open, qualified

    # --- Redwood Signal Telecom (A-2, 8400 employees): a third open deal
    # makes it KEY (large company); losing one in late September ends it.
    dict(key="rw-handhelds", account="A-2", product="GTX Plus Basic", qty=40,
         name="Field crew handhelds", created=d(7, 14), steps=[
             (d(7, 23), "meeting", "C-7"),
             (d(8, 6), "proposal_sent", "C-7"),
             (d(8, 18), "meeting", "C-5"),        # technical -> negotiation
             (d(9, 15), "call", "C-4")]),         # open, negotiation
    dict(key="rw-noc", account="A-2", product="GTX Pro", qty=15,
         name="NOC workstation upgrade", created=d(8, 4), steps=[
             (d(8, 13), "demo", None),
             (d(8, 27), "proposal_sent", "C-7"),
             (d(9, 2), "negotiation", None),      # REFUSED: no decision maker yet
             (d(9, 16), "email", "C-7")]),        # still stuck in proposal
    dict(key="rw-towers", account="A-2", product="GTK 500", qty=4,
         name="Tower site controllers", created=d(8, 20), steps=[   # 3rd open deal -> key
             (d(8, 31), "demo", "C-7"),
             (d(9, 14), "proposal_sent", "C-7"),
             (d(9, 23), "lost", None)]),          # back to 2 open deals -> key lost

    # --- Northgate Utilities Cooperative: a won deal, then a 36-month
    # supply contract -> KEY BY CONTRACT; its subsidiary A-7 follows.
    dict(key="ng-substations", account="A-6", product="GTX Plus Pro", qty=10,
         name="Substation monitoring supply", created=d(7, 6), steps=[
             (d(7, 15), "demo", "C-19"),
             (d(7, 29), "proposal_sent", "C-19"),
             (d(8, 5), "meeting", "C-18"),        # executive -> negotiation
             (d(8, 14), "won", None)]),
    dict(key="ng-meters", account="A-6", product="MG Advanced", qty=10,
         name="Meter reader tablets", created=d(9, 1), steps=[
             (d(9, 10), "meeting", "C-19")]),     # open, qualified

    # --- Northgate Field Services (A-7, subsidiary of A-6).
    dict(key="nf-vans", account="A-7", product="GTX Basic", qty=30,
         name="Service van kits", created=d(7, 20), steps=[
             (d(7, 28), "meeting", "C-21"),
             (d(8, 10), "proposal_sent", "C-21"),
             (d(8, 24), "call", "C-20"),          # buyer -> negotiation
             (d(9, 8), "won", None)]),
    dict(key="nf-tablets", account="A-7", product="GTX Plus Basic", qty=12,
         name="Rugged tablets", created=d(9, 15), steps=[
             (d(9, 22), "demo", "C-21")]),        # open, qualified

    # --- Lighthouse Financial Partners: the rep asks for negotiation
    # too early (REFUSED), then a meeting with the CFO advances it properly.
    dict(key="lh-trading", account="A-8", product="GTX Plus Pro", qty=8,
         name="Trading floor workstations", created=d(7, 7), steps=[
             (d(7, 14), "demo", "C-23"),
             (d(7, 24), "proposal_sent", "C-23"),
             (d(7, 31), "negotiation", None),     # REFUSED: no decision maker yet
             (d(8, 11), "meeting", "C-24"),       # executive -> negotiation
             (d(8, 25), "won", None)]),
    dict(key="lh-kiosks", account="A-8", product="MG Special", qty=200,
         name="Branch kiosk refresh", created=d(8, 18), steps=[
             (d(8, 21), "email", "C-23"),
             (d(9, 15), "lost", None)]),          # lost at lead: no budget
    dict(key="lh-archive", account="A-8", product="GTK 500", qty=2,
         name="Compliance archive servers", created=d(9, 9), steps=[
             (d(9, 17), "meeting", "C-23")]),     # open, qualified (from the webinar lead)

    # --- Small and medium customers.
    dict(key="sv-exam", account="A-3", product="GTX Plus Basic", qty=6,
         name="Exam room tablets", created=d(7, 10), steps=[
             (d(7, 17), "demo", "C-9"),
             (d(7, 23), "proposal_sent", "C-9"),
             (d(7, 30), "call", "C-8"),           # buyer -> negotiation
             (d(8, 3), "won", None)]),
    dict(key="sv-frontdesk", account="A-3", product="MG Special", qty=40,
         name="Front desk kits", created=d(9, 2), steps=[
             (d(9, 4), "email", "C-9")]),         # open, lead
    dict(key="bf-workstations", account="A-4", product="GTX Pro", qty=5,
         name="Analyst workstations", created=d(7, 13), steps=[
             (d(7, 21), "meeting", None),
             (d(8, 4), "proposal_sent", None),
             (d(8, 11), "demo", "C-11"),          # technical -> negotiation
             (d(8, 28), "lost", None)]),          # went with a competitor
    dict(key="bf-datalab", account="A-4", product="GTK 500", qty=1,
         name="Data lab server", created=d(9, 3), steps=[
             (d(9, 15), "meeting", None)]),       # open, qualified (from the website lead)
    dict(key="cl-pos", account="A-5", product="MG Advanced", qty=12,
         name="POS terminals", created=d(7, 8), steps=[
             (d(7, 20), "demo", "C-15"),
             (d(7, 30), "proposal_sent", "C-15"),
             (d(8, 6), "meeting", "C-13"),        # buyer -> negotiation
             (d(8, 20), "won", None)]),
    dict(key="cl-scanners", account="A-5", product="MG Special", qty=150,
         name="Warehouse scanners", created=d(9, 8), steps=[]),   # open, lead
    dict(key="ql-render", account="A-9", product="GTX Plus Pro", qty=3,
         name="Render nodes", created=d(7, 16), steps=[
             (d(7, 27), "meeting", None),
             (d(8, 12), "lost", None)]),          # project shelved
    dict(key="pfc-cnc", account="A-12", product="MG Advanced", qty=4,
         name="CNC cell tablets", created=d(7, 20), steps=[
             (d(7, 29), "demo", "C-34"),
             (d(8, 7), "proposal_sent", "C-34"),
             (d(8, 14), "call", "C-33"),          # technical -> negotiation
             (d(8, 21), "won", None)]),
    dict(key="pfc-inspection", account="A-12", product="GTX Pro", qty=2,
         name="Inspection stations", created=d(9, 10), steps=[
             (d(9, 24), "lost", None)]),          # lost at lead (from the trade-show lead)
    dict(key="tg-devboxes", account="A-13", product="GTX Pro", qty=4,
         name="Developer workstations", created=d(7, 22), steps=[
             (d(8, 3), "meeting", None),
             (d(8, 13), "proposal_sent", None),
             (d(8, 27), "email", None),
             (d(9, 4), "lost", None)]),           # stalled in proposal, then lost
    dict(key="tg-office", account="A-13", product="GTX Plus Basic", qty=10,
         name="Office refresh", created=d(9, 16), steps=[]),      # open, lead (website lead)
    dict(key="mg-sensors", account="A-14", product="MG Advanced", qty=8,
         name="Grain elevator sensors", created=d(8, 5), steps=[
             (d(8, 18), "demo", None),
             (d(8, 28), "proposal_sent", None),
             (d(9, 11), "meeting", "C-38"),       # buyer -> negotiation
             (d(9, 25), "won", None)]),

    # --- Large companies that never reach key status.
    # Ironbridge (12500 employees) peaks at two open deals at a time.
    dict(key="ib-laptops", account="A-10", product="GTX Pro", qty=20,
         name="Recruiter laptops", created=d(7, 9), steps=[
             (d(7, 22), "demo", None),
             (d(8, 5), "proposal_sent", None),
             (d(8, 19), "meeting", "C-25"),       # buyer -> negotiation
             (d(9, 18), "call", "C-27")]),        # open, negotiation
    dict(key="ib-kiosks", account="A-10", product="MG Advanced", qty=6,
         name="Onboarding kiosks", created=d(8, 10), steps=[
             (d(8, 17), "email", None),
             (d(8, 31), "lost", None)]),          # lost at lead (from the trade-show lead)
    dict(key="ib-branches", account="A-10", product="GTX Basic", qty=40,
         name="Branch office kits", created=d(9, 14), steps=[
             (d(9, 21), "call", None)]),          # open, lead
    # Prairie Forge Industries (4900 employees): one deal at a time.
    dict(key="pf-controllers", account="A-11", product="GTK 500", qty=3,
         name="Plant floor controllers", created=d(7, 6), steps=[
             (d(7, 13), "meeting", "C-31"),
             (d(7, 27), "proposal_sent", "C-31"),
             (d(8, 3), "meeting", "C-30"),        # executive -> negotiation
             (d(8, 24), "won", None)]),
    dict(key="pf-qalab", account="A-11", product="GTX Plus Pro", qty=4,
         name="QA lab upgrade", created=d(8, 26), steps=[
             (d(9, 9), "demo", "C-31"),
             (d(9, 21), "proposal_sent", "C-31")]),  # open, proposal
]

# ---------------------------------------------------------------------------
# Orders: ad-hoc purchases by small and medium customers.
# ---------------------------------------------------------------------------

# Harbor & Pine's orders are scripted: together with its two won deals they
# must cross 150000 exactly at the second win (2026-09-09).
SCRIPTED_ORDERS = [
    (d(7, 9), "A-1", "MG Special", 40),
    (d(7, 21), "A-1", "GTX Basic", 8),
    (d(8, 12), "A-1", "GTX Plus Basic", 6),
    (d(8, 27), "A-1", "MG Advanced", 2),
    (d(9, 3), "A-1", "GTX Basic", 5),
    (d(9, 22), "A-1", "MG Special", 30),
    # A few larger orders.
    (d(8, 19), "A-5", "GTX Pro", 6),
    (d(9, 1), "A-8", "MG Advanced", 8),
    (d(9, 17), "A-12", "GTX Plus Basic", 20),
]
RANDOM_ORDERS = 36
# Who places ad-hoc orders, and how often (relative weights).
ORDERING_ACCOUNTS = {"A-3": 5, "A-4": 4, "A-5": 5, "A-7": 3, "A-8": 3,
                     "A-9": 4, "A-12": 4, "A-13": 4, "A-14": 2}
# Typical ad-hoc order: product weight and quantity range.
ORDER_LINES = {
    "MG Special": (30, 10, 60),
    "GTX Basic": (25, 2, 12),
    "GTX Plus Basic": (20, 1, 8),
    "MG Advanced": (15, 1, 3),
    "GTX Pro": (10, 1, 2),
}

# ---------------------------------------------------------------------------
# Contracts and account-plan targets
# ---------------------------------------------------------------------------

# (day signed, account, start, end, annual value, products)
CONTRACTS = [
    # 36-month supply contract: makes Northgate Utilities key (and, through
    # it, Northgate Field Services).
    (d(8, 17), "A-6", d(8, 17), date(2029, 8, 17), 180_000, ["GTX Plus Pro", "GTX Basic", "MG Advanced"]),
    # 12-month contract: too short to make Copperleaf Retail key.
    (d(9, 1), "A-5", d(9, 1), date(2027, 9, 1), 60_000, ["MG Advanced", "MG Special"]),
]

# Account plans written by the account managers once an account is key:
# (day, account, [(product, Q4 target)]).
TARGETS = [
    (d(8, 26), "A-6", [("GTX Plus Pro", 90_000), ("GTX Basic", 25_000), ("MG Advanced", 40_000)]),
    (d(8, 26), "A-7", [("GTX Basic", 18_000), ("GTX Plus Basic", 15_000)]),
    (d(9, 1), "A-2", [("GTX Plus Basic", 50_000), ("GTX Pro", 75_000), ("GTK 500", 110_000)]),
    (d(9, 18), "A-1", [("GTX Plus Pro", 60_000), ("GTX Pro", 45_000), ("MG Advanced", 20_000)]),
]
TARGET_PERIOD = "2026-Q4"

# Routine account-level calls and e-mails (no deal): how many, and which
# accounts get them most (relative weights).
ROUTINE_ACTIVITIES = 62
ROUTINE_WEIGHTS = {"A-1": 5, "A-2": 5, "A-3": 2, "A-4": 2, "A-5": 3, "A-6": 5, "A-7": 3,
                   "A-8": 4, "A-9": 2, "A-10": 4, "A-11": 4, "A-12": 2, "A-13": 2, "A-14": 3}

# What we expect the reference model to find (checked before writing).
EXPECTED_KEY_GAINED = {"A-1": "revenue", "A-6": "contract", "A-2": "large company", "A-7": "parent"}
EXPECTED_KEY_LOST = ["A-2"]
EXPECTED_REFUSED = ["lh-trading", "rw-noc"]   # in time order

# ---------------------------------------------------------------------------
# Building the stream
# ---------------------------------------------------------------------------

def working_days():
    """All working days of the quarter."""
    day, days = QUARTER_START, []
    while day <= QUARTER_END:
        if day.weekday() < 5 and day not in HOLIDAYS:
            days.append(day)
        day += timedelta(days=1)
    return days


WORKING_DAYS = working_days()


def check_working_day(day, what):
    assert day in WORKING_DAYS, f"{what}: {day} is not a working day of the quarter"


def office_time(day):
    """A random moment of the working day, 08:00 .. 17:29 UTC."""
    return datetime(day.year, day.month, day.day, 8, 0) + timedelta(minutes=rng.randint(0, 9 * 60 + 29))


class Stream:
    """Events collected in any order; sorted by time when written."""

    def __init__(self):
        self.items = []  # (at, insertion number, type, data)

    def add(self, at, type_, data):
        self.items.append((at, len(self.items), type_, data))

    def ordered(self):
        """The events sorted by time (ties keep insertion order), with ids."""
        out = []
        for n, (at, _, type_, data) in enumerate(sorted(self.items, key=lambda it: it[:2]), 1):
            out.append({"id": f"evt-{n:04d}", "type": type_,
                        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data})
        return out


class Counters:
    """Sequential ids per prefix: ACT-1, ACT-2, ..."""

    def __init__(self):
        self.n = Counter()

    def next(self, prefix):
        self.n[prefix] += 1
        return f"{prefix}-{self.n[prefix]}"


def account_data(a):
    data = {k: a[k] for k in ("id", "name", "sector", "employees", "annual_revenue", "region")}
    if "parent_id" in a:
        data["parent_id"] = a["parent_id"]
    data["owner"] = REP_OF_REGION[a["region"]]
    return data


def contacts_at(account, day):
    """Contacts of an account on file on a given day."""
    return [c for c in CONTACTS if c[1] == account and (c[4] is None or c[4] <= day)]


def account_exists(account, day):
    added = ACCOUNT_BY_ID[account].get("added")
    return added is None or added <= day


def build():
    stream = Stream()
    # Deal, lead, order and contract ids follow creation order, so these
    # are assigned while walking the items sorted by day; activity ids are
    # assigned at the very end, in stream order.
    deal_ids = {}
    ids = Counters()

    # 1. Quarter start: the CRM already knows most customers and contacts
    #    (loaded at 07:00, before anything else happens that day).
    t = datetime(2026, 7, 1, 7, 0)
    for a in ACCOUNTS:
        if "added" not in a:
            stream.add(t, "account.upserted", account_data(a))
            t += timedelta(minutes=1)
    for cid, account, name, role, added in CONTACTS:
        if added is None:
            stream.add(t, "contact.upserted", {"id": cid, "account_id": account, "name": name, "role": role})
            t += timedelta(minutes=1)

    # New customers and contacts during the quarter: the account first, then
    # its contacts, at 07:50 on the day they were added (before office hours,
    # so anything else that day can refer to them).
    for a in ACCOUNTS:
        if "added" in a:
            day = a["added"]
            check_working_day(day, a["id"])
            stream.add(datetime(day.year, day.month, day.day, 7, 50), "account.upserted", account_data(a))
    for cid, account, name, role, added in CONTACTS:
        if added is not None:
            check_working_day(added, cid)
            stream.add(datetime(added.year, added.month, added.day, 7, 51),
                       "contact.upserted", {"id": cid, "account_id": account, "name": name, "role": role})

    # 2. Leads from marketing.
    for day, company, name, source, region, product, account in LEADS:
        check_working_day(day, company)
        data = {"id": ids.next("L")}
        if account:
            data["account_id"] = account
        data.update(company=company, name=name, source=source, region=region, product=product)
        stream.add(office_time(day), "lead.created", data)

    # 3. Deals and their stories.  Ids D-1, D-2, ... in order of creation.
    for deal in sorted(DEALS, key=lambda x: x["created"]):
        deal_ids[deal["key"]] = ids.next("D")
    for deal in DEALS:
        did, account = deal_ids[deal["key"]], deal["account"]
        a = ACCOUNT_BY_ID[account]
        check_working_day(deal["created"], deal["key"])
        days = [deal["created"]] + [s[0] for s in deal["steps"]]
        assert days == sorted(set(days)), f"{deal['key']}: steps must be on distinct, later days"
        # Expected close: a few weeks after the last planned step, at least
        # six weeks after creation (deals close later than hoped).
        close = max(deal["created"] + timedelta(days=42), days[-1]) + timedelta(days=rng.randint(3, 21))
        stream.add(office_time(deal["created"]), "deal.upserted", {
            "id": did, "account_id": account,
            "name": f"{a['name']} - {deal['name']} ({deal['qty']}x {deal['product']})",
            "product": deal["product"], "amount": PRICES[deal["product"]] * deal["qty"],
            "owner": REP_OF_REGION[a["region"]], "stage": "lead",
            "expected_close": close.isoformat()})
        for day, what, contact in deal["steps"]:
            check_working_day(day, deal["key"])
            if what in ("negotiation", "won", "lost"):
                # A requested stage move: only id, account and stage.
                stream.add(office_time(day), "deal.upserted", {"id": did, "account_id": account, "stage": what})
            else:
                data = {"id": None, "account_id": account, "deal_id": did}
                if contact:
                    assert CONTACT_BY_ID[contact][1] == account, f"{deal['key']}: {contact} works elsewhere"
                    data["contact_id"] = contact
                data["kind"] = what
                stream.add(office_time(day), "activity.logged", data)

    # 4. Orders: scripted ones plus random ad-hoc purchases.
    orders = [(day, account, product, qty) for day, account, product, qty in SCRIPTED_ORDERS]
    accounts, weights = zip(*ORDERING_ACCOUNTS.items())
    products, line_weights = zip(*((p, w) for p, (w, _, _) in ORDER_LINES.items()))
    while len(orders) < len(SCRIPTED_ORDERS) + RANDOM_ORDERS:
        day = rng.choice(WORKING_DAYS)
        account = rng.choices(accounts, weights)[0]
        if not account_exists(account, day) or day in MONTH_ENDS:
            continue
        product = rng.choices(products, line_weights)[0]
        _, low, high = ORDER_LINES[product]
        orders.append((day, account, product, rng.randint(low, high)))
    for day, account, product, qty in sorted(orders, key=lambda o: (o[0], int(o[1][2:]))):
        check_working_day(day, f"order of {account}")
        stream.add(office_time(day), "order.placed", {
            "id": ids.next("O"), "account_id": account,
            "amount": PRICES[product] * qty, "product": product})

    # 5. Contracts and account-plan targets.
    for day, account, start, end, value, products in CONTRACTS:
        check_working_day(day, f"contract of {account}")
        stream.add(office_time(day), "contract.signed", {
            "id": ids.next("K"), "account_id": account, "start": start.isoformat(),
            "end": end.isoformat(), "annual_value": value, "products": products})
    for day, account, lines in TARGETS:
        check_working_day(day, f"targets of {account}")
        t = office_time(day)
        for product, amount in lines:
            stream.add(t, "target.set", {"account_id": account, "product": product,
                                         "period": TARGET_PERIOD, "amount": amount})
            t += timedelta(minutes=2)

    # 6. Routine account-level contact: calls and e-mails, now and then a
    # meeting, with whoever is on file (no deal attached).
    accounts, weights = zip(*ROUTINE_WEIGHTS.items())
    added = 0
    while added < ROUTINE_ACTIVITIES:
        day = rng.choice(WORKING_DAYS)
        account = rng.choices(accounts, weights)[0]
        if not account_exists(account, day):
            continue
        data = {"id": None, "account_id": account}
        people = contacts_at(account, day)
        if people:
            data["contact_id"] = rng.choice(people)[0]
        data["kind"] = rng.choices(["call", "email", "meeting"], [45, 45, 10])[0]
        stream.add(office_time(day), "activity.logged", data)
        added += 1

    # 7. Month-end clock ticks at 18:00, after the day's business.
    for day in MONTH_ENDS:
        stream.add(datetime(day.year, day.month, day.day, 18, 0), "clock.tick", {})

    events = stream.ordered()
    # Activity ids in stream order.
    for e in events:
        if e["type"] == "activity.logged":
            e["data"]["id"] = ids.next("ACT")
    return events, deal_ids, ids

# ---------------------------------------------------------------------------
# Reference model: replay the stream the way the default rules should see it
# ---------------------------------------------------------------------------

def months_between(start, end):
    """Whole months from start to end (2026-08-17 .. 2029-08-17 is 36)."""
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


def replay(events):
    """Check references and ordering; return stage moves, refusals and key changes."""
    accounts, contacts, deals, revenue, contracts = {}, {}, {}, Counter(), []
    key = {}                       # account -> reasons (non-empty = key)
    auto_moves, refused, key_changes = [], [], []
    last_at, seen = "", set()

    def key_reasons(acc, today):
        a = accounts[acc]
        reasons = []
        if revenue[acc] >= KEY_REVENUE:
            reasons.append("revenue")
        if any(c["account_id"] == acc and c["start"] <= today <= c["end"]
               and months_between(c["start"], c["end"]) >= KEY_CONTRACT_MONTHS for c in contracts):
            reasons.append("contract")
        open_deals = sum(1 for x in deals.values() if x["account"] == acc and x["stage"] not in ("won", "lost"))
        if a.get("employees", 0) >= KEY_EMPLOYEES and open_deals >= KEY_OPEN_DEALS:
            reasons.append("large company")
        if a.get("parent_id") and key.get(a["parent_id"]):
            reasons.append("parent")
        return reasons

    for e in events:
        assert e["id"] not in seen and e["at"] >= last_at, e
        seen.add(e["id"])
        last_at = e["at"]
        data, today = e["data"], date.fromisoformat(e["at"][:10])
        if "account_id" in data:
            assert data["account_id"] in accounts, f"{e['id']}: unknown account"
        if e["type"] == "account.upserted":
            accounts[data["id"]] = data
        elif e["type"] == "contact.upserted":
            contacts[data["id"]] = data
        elif e["type"] == "deal.upserted":
            deal = deals.get(data["id"])
            if deal is None:
                deals[data["id"]] = {"account": data["account_id"], "amount": data["amount"],
                                     "stage": "lead", "decision_maker": False}
            elif data["stage"] == "negotiation" and not deal["decision_maker"]:
                refused.append((e["id"], e["at"], data["id"]))
            else:
                deal["stage"] = data["stage"]
                if data["stage"] == "won":
                    revenue[data["account_id"]] += deal["amount"]
        elif e["type"] == "activity.logged":
            contact = contacts.get(data.get("contact_id"))
            if "contact_id" in data:
                assert contact and contact["account_id"] == data["account_id"], e
            deal = deals.get(data.get("deal_id"))
            if "deal_id" in data:
                assert deal and deal["account"] == data["account_id"], e
                assert deal["stage"] not in ("won", "lost"), f"{e['id']}: activity on a closed deal"
                dm = bool(contact) and contact["role"] in DECISION_ROLES
                before = deal["stage"]
                if before == "lead" and data["kind"] in ("meeting", "demo"):
                    deal["stage"] = "qualified"
                elif before == "qualified" and data["kind"] == "proposal_sent":
                    deal["stage"] = "proposal"
                elif before == "proposal" and dm:
                    deal["stage"] = "negotiation"
                # The story keeps decision makers out until proposal (see top).
                assert not (dm and before in ("lead", "qualified")), f"{e['id']}: early decision maker"
                deal["decision_maker"] |= dm
                if deal["stage"] != before:
                    auto_moves.append((e["id"], data["deal_id"], before, deal["stage"]))
        elif e["type"] == "order.placed":
            revenue[data["account_id"]] += data["amount"]
        elif e["type"] == "contract.signed":
            contracts.append({"account_id": data["account_id"], "start": date.fromisoformat(data["start"]),
                              "end": date.fromisoformat(data["end"])})
        # Re-evaluate key status (parents before subsidiaries).
        for acc in sorted(accounts, key=lambda x: "parent_id" in accounts[x]):
            reasons = key_reasons(acc, today)
            if bool(reasons) != bool(key.get(acc)):
                key_changes.append((e["id"], e["at"], acc, "became key" if reasons else "lost key",
                                    reasons or key[acc]))
            key[acc] = reasons
    return {"deals": deals, "revenue": revenue, "auto_moves": auto_moves,
            "refused": refused, "key_changes": key_changes, "key": key}

# ---------------------------------------------------------------------------
# The file with errors (ingested after the quarter)
# ---------------------------------------------------------------------------

def error_lines(ids):
    """5 valid events (err-ok-1..5) and 3 bad lines, in mixed order."""
    def line(eid, type_, at, data):
        return json.dumps({"id": eid, "type": type_, "at": at, "data": data})

    lines = [
        line("err-ok-1", "activity.logged", "2026-10-01T09:12:00Z",
             {"id": ids.next("ACT"), "account_id": "A-3", "contact_id": "C-8", "kind": "call"}),
        # Bad: the line is cut off, not valid JSON.
        '{"id": "err-bad-1", "type": "order.placed", "at": "2026-10-01T09:40:00Z", '
        '"data": {"id": "O-999", "account_id": "A-4", "amount": 1100',
        line("err-ok-2", "order.placed", "2026-10-01T10:05:00Z",
             {"id": ids.next("O"), "account_id": "A-9", "amount": 10 * PRICES["MG Special"], "product": "MG Special"}),
        # Bad: amount is text, not a number.
        line("err-bad-2", "deal.upserted", "2026-10-01T10:30:00Z",
             {"id": "D-999", "account_id": "A-8", "name": "Lighthouse Financial Partners - Branch printers",
              "product": "GTX Basic", "amount": "48k", "owner": "Ben Okafor", "stage": "lead",
              "expected_close": "2026-12-15"}),
        line("err-ok-3", "lead.created", "2026-10-01T11:20:00Z",
             {"id": ids.next("L"), "company": "Stillwater Veterinary Partners", "name": "Irene Caldwell",
              "source": "website", "region": "Central", "product": "GTX Plus Basic"}),
        # Bad: no such event type.
        line("err-bad-3", "deal.exploded", "2026-10-01T13:00:00Z", {"id": "D-1", "account_id": "A-1"}),
        line("err-ok-4", "contact.upserted", "2026-10-01T14:10:00Z",
             {"id": f"C-{len(CONTACTS) + 1}", "account_id": "A-1", "name": "Gordon Feld", "role": "executive"}),
        line("err-ok-5", "order.placed", "2026-10-01T15:45:00Z",
             {"id": ids.next("O"), "account_id": "A-5", "amount": 3 * PRICES["GTX Plus Basic"],
              "product": "GTX Plus Basic"}),
    ]
    return lines

# ---------------------------------------------------------------------------

def main():
    events, deal_ids, ids = build()
    result = replay(events)

    # The story must have come out as designed.
    deal_key = {v: k for k, v in deal_ids.items()}
    gained = {acc: reasons[0] for _, _, acc, what, reasons in result["key_changes"] if what == "became key"}
    lost = [acc for _, _, acc, what, _ in result["key_changes"] if what == "lost key"]
    assert gained == EXPECTED_KEY_GAINED, gained
    assert lost == EXPECTED_KEY_LOST, lost
    assert [deal_key[r[2]] for r in result["refused"]] == EXPECTED_REFUSED, result["refused"]
    assert 300 <= len(events) <= 450, len(events)
    assert all(e["at"][11:16] <= "17:59" or e["type"] == "clock.tick" for e in events)

    with open(QUARTER_FILE, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    with open(ERRORS_FILE, "w") as f:
        for line in error_lines(ids):
            f.write(line + "\n")

    # ---- summary ----
    print(f"wrote {QUARTER_FILE.name}: {len(events)} events, "
          f"{events[0]['at']} .. {events[-1]['at']}")
    for type_, n in sorted(Counter(e["type"] for e in events).items()):
        print(f"  {type_:18} {n:4}")
    stages = Counter(x["stage"] for x in result["deals"].values())
    print("deals at quarter end: " + ", ".join(f"{s} {stages[s]}" for s in
          ("lead", "qualified", "proposal", "negotiation", "won", "lost")))
    print(f"automatic stage moves expected: {len(result['auto_moves'])}")
    print("key-account changes expected:")
    for eid, at, acc, what, reasons in result["key_changes"]:
        print(f"  {at[:10]} {eid}  {acc:5} {ACCOUNT_BY_ID[acc]['name']:32} {what} ({', '.join(reasons)})")
    print("requested moves to negotiation that must be refused (no decision maker engaged):")
    for eid, at, did in result["refused"]:
        after = [m for m in result["auto_moves"] if m[1] == did and m[3] == "negotiation"]
        later = f"; advances later on {after[0][0]}" if after else "; stays in proposal"
        print(f"  {at[:10]} {eid}  {did} ({deal_key[did]}){later}")
    print("revenue with us this quarter (orders + won deals), top 5:")
    for acc, amount in result["revenue"].most_common(5):
        print(f"  {acc:5} {ACCOUNT_BY_ID[acc]['name']:32} {amount:>9,}")
    print(f"wrote {ERRORS_FILE.name}: 8 lines (err-ok-1..5 valid; err-bad-1 invalid JSON, "
          f"err-bad-2 amount \"48k\", err-bad-3 unknown type deal.exploded)")


if __name__ == "__main__":
    main()
