"""Word lists and text templates for the demo CRM (our own wording, Chinese with some English).

Kept apart from the generator so the generator reads as logic and this file as data. Templates use
``str.format`` fields filled from one context dict; unknown fields never appear in a template.
"""

from __future__ import annotations

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁沈任姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武"  # noqa: E501
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
    "霞", "平", "刚", "桂英", "建华", "志明", "晓东", "海燕", "文博", "子涵", "思远", "雨桐", "宏伟", "国庆",
    "建军", "丽华", "春梅", "俊杰", "佳怡", "立新", "振华", "晓峰", "慧敏", "永刚", "玉兰", "德胜", "嘉欣",
]
EN_NAMES = [
    ("Michael Weber", "Plant Director"), ("Anna Schmidt", "Purchasing Manager"),
    ("David Chen", "IT Director"), ("Sarah Miller", "Quality Engineer"), ("Thomas Becker", "CFO"),
]

# decision role → possible titles, per industry family
TITLES: dict[str, dict[str, list[str]]] = {
    "制造业": {
        "决策者": ["总经理", "董事长", "厂长"], "影响者": ["生产副总", "生产总监"],
        "技术把关": ["工艺部经理", "设备部经理", "技术总监"], "采购": ["采购经理", "采购主管"],
        "使用者": ["车间主任", "激光班组长", "设备工程师"], "财务": ["财务总监", "财务经理"],
    },
    "医疗": {
        "决策者": ["院长", "分管副院长", "实验室总经理"], "影响者": ["检验科主任", "医务处处长"],
        "技术把关": ["设备科科长", "检验科副主任"], "采购": ["采购中心主任", "招采办主任"],
        "使用者": ["主管检验技师", "检验技师"], "财务": ["财务处处长", "财务经理"],
    },
    "高科技": {
        "决策者": ["CEO", "CTO", "联合创始人"], "影响者": ["产品VP", "运维总监"],
        "技术把关": ["架构师", "IT负责人"], "采购": ["采购专员", "行政采购经理"],
        "使用者": ["运维工程师", "数据工程师"], "财务": ["CFO", "财务经理"],
    },
    "快消": {
        "决策者": ["总经理", "销售副总裁"], "影响者": ["渠道总监", "市场总监"],
        "技术把关": ["资产管理经理", "IT经理"], "采购": ["采购经理", "集采中心经理"],
        "使用者": ["区域业务经理", "终端陈列主管"], "财务": ["财务总监", "费用核算经理"],
    },
}

COMPETITORS: dict[str, list[str]] = {
    "laser": ["大族激光", "通快TRUMPF", "百超Bystronic", "宏山激光"],
    "robot": ["ABB", "发那科FANUC", "库卡KUKA", "埃斯顿"],
    "ivd": ["迈瑞", "贝克曼Beckman", "罗氏Roche", "希森美康Sysmex"],
    "fmcg": ["海尔商用冷柜", "澳柯玛"],
    "saas": ["树根互联", "阿里云IoT"],
}

LEAD_SOURCES = ["官网留言", "百度SEM", "展会", "400热线", "微信公众号", "老客户转介绍", "线上研讨会", "渠道报备"]

# --- activities ----------------------------------------------------------------------------------
# (kind, subject, body). Fields: account, contact, title, product, competitor, qty, price_wan, month,
# rep, line_detail.
ACTIVITY_TEMPLATES_ZH: list[tuple[str, str, str]] = [
    ("visit", "现场拜访：了解{product}需求",
     "拜访{account}，与{contact}（{title}）一起看了车间现场。{line_detail}客户答应月底前给出详细的技术要求，"
     "下一步安排售前工程师做方案。"),
    ("wecom", "企业微信沟通：价格异议",
     "{contact}企业微信原话：“你们{product}的报价比{competitor}高了差不多12%，老板那边压力很大，"
     "{month}月底前能不能再让几个点？”已回复会向区域经理申请特价，周三前给答复。"),
    ("call", "电话跟进：预算审批进度",
     "电话跟进{contact}：预算已经报到集团走审批，预计{month}月中旬出结果。对方顺口提到{competitor}也报了价，"
     "还承诺了三年质保，我们需要准备差异化说明。"),
    ("email", "发送方案与报价单",
     "邮件发送{product}技术方案与报价单（{qty}台，含税合计约{price_wan}万元），抄送采购。报价有效期30天，"
     "付款方式按合同约定分期。"),
    ("note", "内部备注：决策链梳理",
     "内部备注：目前只接触到技术部和{contact}，真正拍板的人还没见到。需要通过{contact}引荐，争取约见总经理，"
     "否则项目容易被{competitor}低价截胡。"),
    ("wecom", "企业微信：技术问题",
     "{contact}问：“{product}能不能对接我们现在的MES？需要OPC UA接口和数据字典。”已转售前工程师，"
     "承诺两个工作日内给出接口说明。"),
    ("visit", "技术交流会",
     "在{account}会议室做技术交流，参会的有{contact}和三位工程师。客户重点问了能耗、维护周期和备件价格，"
     "对{competitor}的售后响应速度不太满意，这是我们的机会。"),
    ("call", "电话：交期确认",
     "{contact}来电确认交期：如果本月签合同，{product}最快几周能到厂？已答复标准交期6-8周，可协调加急。"),
    ("wecom", "企业微信：催报价",
     "{contact}：“上次说的优化报价什么时候能发？我们下周一要上会。”已回复今天下班前发出。"),
    ("note", "商机风险评估",
     "风险：客户对价格极其敏感，{competitor}已经在做样机试用；我方优势是本地服务网点和交期。建议邀请客户参观"
     "样板客户现场。"),
    ("visit", "陪同样板客户参观",
     "陪同{contact}参观样板客户现场，看了{product}的实际运行情况。客户现场问了很多操作细节，回程路上表示"
     "“效果比想象的好”，但还要比较一轮价格。"),
    ("email", "商务条款往来",
     "收到{account}采购部对合同条款的修改意见：质保期要求延长到3年，付款比例希望改为30/60/10。已转法务和财务评估。"),
]
ACTIVITY_TEMPLATES_EN: list[tuple[str, str, str]] = [
    ("call", "Call: lead time and service coverage",
     "Call with {contact}: they are comparing our {product} with {competitor}. Main concerns are lead time "
     "(they need delivery within 6 weeks) and local service coverage. Promised to send our service SLA and "
     "two reference customers."),
    ("wecom", "WeCom: warranty question",
     "WeCom from {contact}: \"Can you confirm the warranty covers the core components for 2 years? {competitor} "
     "offered 3.\" Replied that we can discuss an extended warranty if the order is signed this quarter."),
    ("email", "Quote sent (English version)",
     "Sent the English quotation for {qty} x {product} (about RMB {price_wan}0k incl. VAT) to {contact}, "
     "with the technical datasheet. 中文版报价同步发给了采购。"),
]
LINE_DETAIL = {
    "laser": "现有老设备切6mm碳钢毛刺多、速度慢，客户关心切割速度、耗气量和自动上下料。",
    "robot": "产线有两个焊接工位还靠人工，客户想先上一台机器人做试点，再推广到其他工位。",
    "ivd": "检验科日均样本量约1500，高峰期排队严重，对800测试/小时和试剂冷藏位很感兴趣，希望试用两周。",
    "fmcg": "夏季旺季计划在华东便利店渠道新增冷柜投放，要求冷柜能远程看到温度和开门次数。",
    "saas": "客户现有设备数据分散在三个系统里，希望统一看告警，并通过开放API接入自己的BI。",
}

# --- service -------------------------------------------------------------------------------------
TICKET_SUBJECTS = ["设备故障", "设备无法运行", "{product} 报警 {code}", "{code} 报警反复出现", "请求上门检修"]
TICKET_SUBJECTS_EN = ["Device alarm {code} on {product}", "Machine not starting"]

# error code → first advice an agent gives (codes from products.yaml)
CODE_ADVICE: dict[str, str] = {
    "E-101": "请先检查冷水机水位和设定温度（激光器回路建议22℃），以及冷水机散热网是否堵塞。",
    "E-204": "请检查喷嘴是否碰撞变形，清洁陶瓷体后重新做随动标定。",
    "E-305": "请确认气源压力是否低于0.8 MPa，检查减压阀和气管是否漏气。",
    "E-410": "请记录伺服驱动器面板上的报警号，断电5分钟后重启，如仍报警我们安排远程诊断。",
    "E-512": "请检查交换台定位传感器是否有铁屑遮挡，并确认交换台链条张紧。",
    "A-01": "编码器电池电压低，请尽快更换电池，更换时不要断控制柜电源，否则零点会丢失。",
    "A-17": "请确认负载设置与实际工具重量一致，检查是否有干涉，复位后低速试运行。",
    "A-23": "请检查示教器电缆接头，换一根电缆试试；如果仍中断，可能是示教器主板故障。",
    "C-05": "请在示教器上执行力矩传感器零点校准，校准时机械臂不要带负载。",
    "2031": "请执行试剂针清洗程序，检查是否有纤维蛋白堵塞，必要时更换试剂针。",
    "4102": "请检查反应盘温度曲线和恒温液液位，室温过高也可能导致温控异常。",
    "5008": "请执行比色杯清洗和空白吸光度检测，超限的比色杯需要更换。",
    "H-12": "请检查鞘液余量和管路是否有气泡，执行一次管路排气。",
    "H-30": "请执行本底计数，必要时用探头清洁液浸泡后复测。",
    "F1": "请查看温度显示是否跳变，可能是温度传感器接插件松动。",
    "F3": "请确认冷柜背部散热空间不少于10 cm，清理冷凝器灰尘后断电30分钟再启动。",
    "F7": "请检查门封条是否变形、柜体是否放平，门关好后报警会自动消除。",
    "401": "API令牌可能已过期，请在控制台重新生成令牌并更新到您的系统中。",
    "429": "调用频率超出套餐限制，建议启用批量接口或联系我们调整配额。",
    "SYNC-02": "数据同步延迟通常与设备网络有关，请确认4G信号强度，我们同时在后台排查。",
}
CUSTOMER_OPENERS = [
    "你好，我们那台{product}（序列号{serial}）今天开始报{code}，{meaning}，现在{impact}。",
    "师傅您好，{product}又出现{code}报警了，{meaning}，上周刚处理过，怎么又来了？",
    "设备{serial}报{code}（{meaning}），操作工重启了两次没用，麻烦尽快安排人看看。",
]
CUSTOMER_OPENERS_EN = [
    "Hello, our {product} (serial {serial}) shows alarm {code} ({meaning}) since this morning. {impact_en}",
]
SAAS_OPENERS = [
    "你好，我们在DeviceCloud控制台和开放接口上遇到{code}（{meaning}），从今天上午开始，影响我们BI大屏的数据刷新。",
    "DeviceCloud又报{code}了，{meaning}，我们的告警推送收不到，麻烦尽快排查。",
]
IMPACTS = ["整条线都停了", "只能降功率运行", "还能用但报警不断", "检验科今天的样本都压着", "门店反映饮料不够冰"]
CUSTOMER_FOLLOWUPS = [
    "按你说的做了，报警暂时消除了，我们再观察一天。",
    "试过了还是不行，能不能派工程师上门？",
    "好的，工程师明天几点到？我们安排人在现场配合。",
    "备件什么时候能到？这边生产计划很紧。",
    "已经恢复正常了，谢谢你们响应这么快！",
]
AGENT_CLOSINGS = [
    "已为您安排工程师{engineer}上门，预计明天上午到达，请保持电话畅通。",
    "备件已申请，预计2个工作日内到货，到货后工程师会和您预约时间。",
    "问题已处理完毕，服务报告已发送到您的邮箱，请在系统里对本次服务进行评价。",
    "我们远程看了设备日志，判断是{meaning}引起的，已推送处理步骤给现场人员。",
]
SERVICE_EVENT_SUMMARY = {
    "install": "设备安装调试完成，客户验收签字，完成操作培训。",
    "maintenance": "例行保养：清洁光路/管路，检查易损件，更新固件，设备状态良好。",
    "inspection": "季度巡检：各项指标正常，建议下次保养时更换易损件。",
    "repair": "故障维修：{meaning}，更换{part}后试运行正常。",
}
PARTS = {
    "laser": ["喷嘴", "陶瓷体", "保护镜片", "冷水机水泵", "伺服驱动器"],
    "robot": ["编码器电池", "示教器电缆", "减速机", "关节力矩传感器"],
    "ivd": ["试剂针", "比色杯", "恒温液泵", "鞘液过滤器"],
    "fmcg": ["温度传感器", "压缩机启动器", "门封条"],
    "saas": [],
}
