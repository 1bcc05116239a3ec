# ruff: noqa: E501  (one company per line reads best as a table)
"""The demo customers: fictional companies with realistic names, one row each.

owner: rep_east_1 | rep_east_2 | rep_south_1 | sales_mgr_east | sales_mgr_south | pool (公海)
partner: True when the account is served through the channel partner 华东精工设备经销有限公司.
"""

from __future__ import annotations

from typing import NamedTuple


class Company(NamedTuple):
    name: str
    industry: str  # 制造业 | 医疗 | 高科技 | 快消
    sub_industry: str
    city: str
    region: str  # 华东 | 华南 | 华中 | 华北 | 西南
    owner: str
    tier: str
    tags: tuple[str, ...]
    partner: bool = False
    english: bool = False


COMPANIES: list[Company] = [
    # manufacturing: laser job shops, auto parts, robot integrators
    Company("华东重工机械股份有限公司", "制造业", "工程机械", "上海", "华东", "rep_east_1", "战略", ("重点客户", "多次成交", "激光切割")),
    Company("苏州精锐钣金科技有限公司", "制造业", "激光加工", "苏州", "华东", "rep_east_1", "A", ("激光切割", "复购")),
    Company("无锡恒力激光加工有限公司", "制造业", "激光加工", "无锡", "华东", "rep_east_2", "B", ("激光切割",)),
    Company("宁波华拓汽车零部件有限公司", "制造业", "汽车零部件", "宁波", "华东", "rep_east_2", "A", ("汽车", "机器人焊接")),
    Company("杭州智拓机器人系统集成有限公司", "制造业", "机器人集成", "杭州", "华东", "rep_east_1", "A", ("集成商", "机器人")),
    Company("合肥长信汽车配件有限公司", "制造业", "汽车零部件", "合肥", "华东", "rep_east_2", "B", ("汽车",)),
    Company("南京金陵钣金制造有限公司", "制造业", "激光加工", "南京", "华东", "rep_east_1", "B", ("激光切割", "价格敏感")),
    Company("常州明远精密机械有限公司", "制造业", "通用机械", "常州", "华东", "rep_east_2", "B", ("渠道客户",), partner=True),
    Company("上海浦江焊接自动化有限公司", "制造业", "机器人集成", "上海", "华东", "sales_mgr_east", "A", ("集成商", "机器人")),
    Company("昆山鼎盛金属制品有限公司", "制造业", "激光加工", "昆山", "华东", "rep_east_2", "C", ("渠道客户", "激光切割"), partner=True),
    Company("温州瓯江阀门有限公司", "制造业", "阀门", "温州", "华东", "rep_east_1", "C", ("渠道客户",), partner=True),
    Company("嘉兴嘉禾新能源装备有限公司", "制造业", "新能源装备", "嘉兴", "华东", "rep_east_2", "A", ("新能源", "渠道客户"), partner=True),
    Company("东莞永丰五金制品有限公司", "制造业", "五金", "东莞", "华南", "rep_south_1", "B", ("激光切割",)),
    Company("佛山顺德嘉联不锈钢制品有限公司", "制造业", "不锈钢制品", "佛山", "华南", "rep_south_1", "B", ("激光切割", "价格敏感")),
    Company("深圳科瑞机器人系统有限公司", "制造业", "机器人集成", "深圳", "华南", "rep_south_1", "A", ("集成商", "机器人")),
    Company("广州穗安汽车零部件有限公司", "制造业", "汽车零部件", "广州", "华南", "sales_mgr_south", "战略", ("汽车", "重点客户")),
    Company("厦门鹭岛精密钣金有限公司", "制造业", "激光加工", "厦门", "华南", "rep_south_1", "C", ("激光切割",)),
    Company("苏州德丰精密电子有限公司", "制造业", "电子制造", "苏州", "华东", "rep_east_1", "A", ("外资", "英文沟通", "协作机器人"), english=True),
    Company("青岛海岳重型机械有限公司", "制造业", "重型机械", "青岛", "华北", "pool", "B", ("沉默客户",)),
    Company("天津滨海机器人集成有限公司", "制造业", "机器人集成", "天津", "华北", "pool", "C", ("沉默客户",)),
    Company("武汉光谷激光应用技术有限公司", "制造业", "激光加工", "武汉", "华中", "pool", "B", ("激光切割",)),
    # medical: hospitals and third-party labs
    Company("上海浦东仁和医院", "医疗", "综合医院", "上海", "华东", "rep_east_1", "战略", ("三级医院", "检验科")),
    Company("杭州康检医学检验实验室有限公司", "医疗", "第三方检验", "杭州", "华东", "rep_east_2", "A", ("第三方实验室",)),
    Company("苏州市立康医院", "医疗", "综合医院", "苏州", "华东", "rep_east_1", "A", ("二级医院",)),
    Company("南京明德医院", "医疗", "综合医院", "南京", "华东", "sales_mgr_east", "A", ("三级医院", "招标采购")),
    Company("宁波华康医学检验所", "医疗", "第三方检验", "宁波", "华东", "rep_east_2", "B", ("第三方实验室",)),
    Company("广州安泽医学检验中心有限公司", "医疗", "第三方检验", "广州", "华南", "rep_south_1", "A", ("第三方实验室",)),
    Company("深圳南山博爱医院", "医疗", "综合医院", "深圳", "华南", "rep_south_1", "B", ("民营医院",)),
    Company("东莞松湖妇幼保健院", "医疗", "专科医院", "东莞", "华南", "rep_south_1", "C", ("妇幼",)),
    Company("合肥瑞和医学检验实验室", "医疗", "第三方检验", "合肥", "华东", "pool", "C", ("第三方实验室",)),
    Company("成都蓉康医学检验所", "医疗", "第三方检验", "成都", "西南", "pool", "B", ()),
    # high-tech / SaaS
    Company("上海云启数据科技有限公司", "高科技", "工业互联网", "上海", "华东", "rep_east_2", "A", ("SaaS", "DeviceCloud")),
    Company("杭州澜图物联科技有限公司", "高科技", "物联网", "杭州", "华东", "rep_east_1", "B", ("SaaS",)),
    Company("深圳极光智联科技有限公司", "高科技", "智能硬件", "深圳", "华南", "rep_south_1", "A", ("SaaS", "英文沟通"), english=True),
    Company("南京星河软件有限公司", "高科技", "软件", "南京", "华东", "rep_east_2", "C", ()),
    Company("苏州智造云科技有限公司", "高科技", "工业互联网", "苏州", "华东", "sales_mgr_east", "B", ("SaaS",)),
    Company("广州数智链信息技术有限公司", "高科技", "软件", "广州", "华南", "pool", "C", ()),
    # FMCG: beverage and dairy, fridges and DeviceCloud
    Company("浙江清泉饮品有限公司", "快消", "饮料", "杭州", "华东", "rep_east_1", "战略", ("冷柜投放", "DeviceCloud")),
    Company("上海晨露乳业有限公司", "快消", "乳制品", "上海", "华东", "rep_east_2", "A", ("冷柜投放",)),
    Company("江苏绿源乳业股份有限公司", "快消", "乳制品", "南京", "华东", "rep_east_1", "A", ("冷柜投放", "低温奶")),
    Company("广东椰岛饮料有限公司", "快消", "饮料", "广州", "华南", "rep_south_1", "A", ("冷柜投放",)),
    Company("福建闽泉食品饮料有限公司", "快消", "饮料", "厦门", "华南", "rep_south_1", "B", ("冷柜投放",)),
    Company("杭州零度气泡水饮品有限公司", "快消", "饮料", "杭州", "华东", "rep_east_2", "B", ("零糖气泡水", "新锐品牌")),
    Company("深圳鲜果时光连锁便利店有限公司", "快消", "零售", "深圳", "华南", "sales_mgr_south", "B", ("便利店",)),
    Company("安徽皖牧乳业有限公司", "快消", "乳制品", "合肥", "华东", "pool", "C", ("沉默客户",)),
    Company("广州南粤啤酒有限公司", "快消", "啤酒", "广州", "华南", "rep_south_1", "B", ("冷柜投放",)),
]

# Which products each industry buys (codes from products.yaml), most typical first.
INDUSTRY_PRODUCTS: dict[str, dict[str, list[str]]] = {
    "制造业": {
        "激光加工": ["LC-3015", "LC-6020", "DC-CLOUD"],
        "机器人集成": ["RB-20", "CR-7", "DC-CLOUD"],
        "汽车零部件": ["RB-20", "LC-3015", "CR-7"],
        "电子制造": ["CR-7", "RB-20", "DC-CLOUD"],
        "*": ["LC-3015", "LC-6020", "RB-20"],
    },
    "医疗": {"*": ["BA-800", "HA-5"]},
    "高科技": {"*": ["DC-CLOUD", "CR-7"]},
    "快消": {"*": ["SC-400", "DC-CLOUD"]},
}

CITY_AREA_CODES = {
    "上海": "021", "苏州": "0512", "无锡": "0510", "宁波": "0574", "杭州": "0571", "合肥": "0551", "南京": "025",
    "常州": "0519", "昆山": "0512", "温州": "0577", "嘉兴": "0573", "东莞": "0769", "佛山": "0757", "深圳": "0755",
    "广州": "020", "厦门": "0592", "青岛": "0532", "天津": "022", "武汉": "027", "成都": "028",
}
