"""Demo data: users, Chinese and English customers with WeChat/QQ contacts and a timeline.

Loaded by ``crm demo`` (and ``make run``); running it twice changes nothing.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, TYPE_CHECKING

from sqlalchemy import select
from werkzeug.security import check_password_hash

from .db import utcnow
from .models import Customer, CustomField, User
from .services import contacts, custom_fields, customers, interactions, users

if TYPE_CHECKING:
    from .runtime import ServiceContext

DEMO_PASSWORD = "demo1234"  # demo only: printed on start while it is unchanged

USERS = [
    ("admin", "admin", "系统管理员", None, "zh_CN"),
    ("wangfang", "manager", "王芳", "华东销售部", "zh_CN"),
    ("lisi", "sales", "李四", "华东销售部", "zh_CN"),
    ("zhaoliu", "sales", "赵六", "华东销售部", "zh_CN"),
    ("emma", "sales", "Emma Clark", "International", "en"),
    ("chenjing", "service", "陈静", None, "zh_CN"),
    ("analyst", "analyst", "数据分析", None, "zh_CN"),
]

# code, name, kind, stage, level, source, industry, owner, phone, email, credit, tags, city/region, contact
CUSTOMERS: list[tuple[Any, ...]] = [
    ("ZS001", "张三商贸有限公司", "organization", "customer", "A", "wechat", "批发零售", "lisi", "021-6234 5678",
     "service@zhangsan-trade.cn", "500000", ["VIP", "批发"], ("上海市", "上海", "浦东新区世纪大道100号"),
     ("张三", "总经理", "13800138000", "zhangsan_sh", "10001234")),
    ("ZS002", "张三商贸(有限公司)", "organization", "lead", None, "web", None, "zhaoliu", None, None, None, [],
     None, ("张三", None, "13800138000", None, None)),
    ("HZ001", "杭州西湖龙井茶业有限公司", "organization", "customer", "A", "trade_fair", "食品饮料", "lisi",
     "0571-8765 4321", "sales@xihutea.cn", "300000", ["VIP", "电商"], ("杭州市", "浙江", "西湖区龙井路18号"),
     ("周婷", "采购经理", "13957112345", "zhouting88", "20203456")),
    ("SH002", "上海浦江物流有限公司", "organization", "customer", "B", "referral", "物流", "zhaoliu",
     "021-5888 0000", "info@pujiang-logistics.cn", "800000", ["物流伙伴"], ("上海市", "上海", "宝山区同济路500号"),
     ("孙强", "运营总监", "13601234567", "sunqiang_pj", None)),
    ("SZ001", "深圳华强电子科技有限公司", "organization", "prospect", "B", "web", "电子", "wangfang",
     "0755-8321 0000", "bd@hqe-tech.cn", "200000", ["电商"], ("深圳市", "广东", "福田区华强北路1002号"),
     ("刘洋", "商务经理", "13823456789", "liuyang_hq", "30304567")),
    ("BJ001", "北京京西母婴用品店", "organization", "customer", "C", "taobao", "母婴", "lisi", "010-6888 1234", None,
     "50000", ["老客户"], ("北京市", "北京", "海淀区中关村大街27号"), ("吴敏", "店长", "13910002000", "wumin_baby", None)),
    ("GZ001", "广州白云服装批发行", "organization", "customer", "B", "trade_fair", "服装", "zhaoliu",
     "020-3666 7777", None, "120000", ["批发"], ("广州市", "广东", "白云区机场路8号"), ("黄磊", "老板", "13600001111", None, "40405678")),
    ("CD001", "成都天府火锅连锁有限公司", "organization", "lead", None, "weibo", "餐饮", None, None, None, None, [],
     ("成都市", "四川", "锦江区春熙路66号"), None),
    ("P001", "李娜", "person", "customer", "A", "wechat", None, "lisi", None, "lina@example.cn", None, ["VIP", "老客户"],
     None, ("李娜", None, "13700137000", "lina_2019", "50506789")),
    ("P002", "王伟", "person", "prospect", None, "qq", None, "zhaoliu", None, None, None, [], None,
     ("王伟", None, "13500135000", None, "60607890")),
    ("EN001", "Acme Trading Ltd", "organization", "customer", "A", "referral", "Wholesale", "emma",
     "+44 20 7946 0000", "orders@acme-trading.co.uk", "250000", ["VIP", "Export"], ("London", "England", "1 King's Road"),
     ("John Carter", "Purchasing Manager", "+44 7911 123456", None, None)),
    ("EN002", "Northwind Traders Inc.", "organization", "customer", "B", "web", "Food", "emma", "+1 206 555 0100",
     "hello@northwind.example", "100000", ["Export"], ("Seattle", "WA", "500 Pine Street"),
     ("Nancy Davolio", "Buyer", "+1 206 555 0199", None, None)),
    ("EN003", "Contoso Retail Co.", "organization", "prospect", None, "linkedin", "Retail", "emma", None,
     "contact@contoso.example", None, [], None, None),
    ("P003", "Jane Smith", "person", "lead", None, "web", None, "emma", None, "jane.smith@example.com", None, [], None, None),
]

CHANNEL_STORIES = [
    ("wechat", "inbound", "咨询新品报价", "客户在微信上询问春季新品的批发价。"),
    ("phone", "outbound", "回访上月订单", "电话回访，客户对交付满意，计划追加订单。"),
    ("visit", "outbound", "上门拜访", "拜访客户门店，了解库存和陈列情况。"),
    ("email", "inbound", "Request for quotation", "Asked for a quote on 500 units, delivery in March."),
    ("qq", "inbound", "售后咨询", "QQ 咨询发票开具事宜。"),
]


def load_demo(ctx: ServiceContext) -> str:
    """Create the demo users and records that do not exist yet; return a one-line summary."""
    users.seed_roles(ctx)
    made_users = 0
    by_name: dict[str, User] = {}
    for username, role, full_name, team, locale in USERS:
        user = ctx.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = users.create_user(ctx, username, DEMO_PASSWORD, role, full_name=full_name, team=team, locale=locale,
                                     email=f"{username}@demo.example")
            made_users += 1
        by_name[username] = user
    manager = by_name["wangfang"]
    if manager.team is not None and manager.team.manager_id is None:
        manager.team.manager_id = manager.id
        ctx.session.commit()
    if ctx.session.scalar(select(CustomField).where(CustomField.name == "company_size")) is None:
        custom_fields.create_field(ctx, {"entity": "customer", "name": "company_size", "label": "公司规模 Company size",
                                         "type": "choice", "choices": ["1-10", "11-50", "51-200", "200+"]})
        custom_fields.create_field(ctx, {"entity": "customer", "name": "founded", "label": "成立日期 Founded",
                                         "type": "date"})
    made = 0
    now = utcnow()
    for i, row in enumerate(CUSTOMERS):
        (code, name, kind, stage, level, source, industry, owner, phone, email, credit, tags, place, contact) = row
        if customers.get_by_code(ctx, code) is not None:
            continue
        customer = customers.create_customer(ctx, {
            "code": code, "name": name, "kind": kind, "stage": stage, "level": level, "source_channel": source,
            "industry": industry, "owner_id": by_name[owner].id if owner else None, "phone": phone, "email": email,
            "credit_limit": credit, "currency": "CNY" if not code.startswith("EN") else "USD", "tags": tags,
            "attributes": {"company_size": ["1-10", "11-50", "51-200", "200+"][i % 4]} if kind == "organization" else {},
        })
        if place:
            contacts.add_address(ctx, customer.id, {"city": place[0], "region": place[1], "line1": place[2],
                                                    "country": "CN" if not code.startswith("EN") else ("GB" if code == "EN001" else "US"),
                                                    "is_primary": True})
        if contact:
            cname, title, mobile, wechat, qq = contact
            contacts.create_contact(ctx, customer.id, {"name": cname, "title": title, "mobile": mobile, "wechat": wechat,
                                                       "qq": qq, "is_primary": True})
        for j in range(i % 4 + 1):
            channel, direction, subject, body = CHANNEL_STORIES[(i + j) % len(CHANNEL_STORIES)]
            interactions.log_interaction(ctx, customer.id, {
                "channel": channel, "direction": direction, "subject": subject, "body": body, "source": "demo",
                "occurred_at": now - dt.timedelta(days=7 * (i + 1) + 3 * j, hours=j)})
        made += 1
    total = ctx.session.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1)) or 0
    return f"Demo data: {made_users} users and {made} customers added ({total} customers in all)."


def demo_login_hint(ctx: ServiceContext) -> str | None:
    """The demo admin login while its password is still the published demo one."""
    try:
        admin = ctx.session.scalar(select(User).where(User.username == "admin"))
    except Exception:  # noqa: BLE001 - no schema yet
        return None
    if admin is not None and admin.password_hash and check_password_hash(admin.password_hash, DEMO_PASSWORD):
        return f"Demo login: admin / {DEMO_PASSWORD}  (demo data; change it with the admin's user page)"
    return None
