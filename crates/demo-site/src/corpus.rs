//! The constant text of the site's pages: book names, authors, reviews, and the page chrome
//! (head, navigation, scripts and styles). Data only.

/// Book names; some contain `&`, so titles exercise entity decoding.
pub(crate) const NAMES: &[&str] = &[
    "红楼梦",
    "活着",
    "百年孤独",
    "1984",
    "飘",
    "三体全集",
    "三国演义（全二册）",
    "白夜行",
    "福尔摩斯探案全集（上中下）",
    "动物农场",
    "房思琪的初恋乐园",
    "小王子",
    "撒哈拉的故事",
    "天龙八部",
    "傲慢与偏见 & 理智与情感",
    "围城",
    "平凡的世界（全三部）",
    "杀死一只知更鸟",
    "月亮与六便士",
    "局外人",
    "霍乱时期的爱情",
    "悉达多",
    "人类简史",
    "万历十五年",
    "明朝那些事儿（1-9）",
    "罪与罚 & 白痴",
    "哈利·波特",
    "嫌疑人X的献身",
    "沉默的大多数",
    "挪威的森林",
    "鼠疫",
    "Tom & Jerry 猫和老鼠",
];

/// Subtitles, shown in a span beside the title anchor.
pub(crate) const SUBTITLES: &[&str] = &[
    "典藏版",
    "精装纪念版",
    "全译本",
    "插图珍藏本",
    "修订版",
    "新版",
    "注释本",
    "口袋本",
    "双语对照版",
    "作者亲笔签名版",
];

/// Authors for the `p.pl` line.
pub(crate) const AUTHORS: &[&str] = &[
    "[清] 曹雪芹 著",
    "余华",
    "[哥伦比亚] 加西亚·马尔克斯 / 范晔",
    "[英] 乔治·奥威尔 / 刘绍铭",
    "[美国] 玛格丽特·米切尔 / 李美华",
    "刘慈欣",
    "[明] 罗贯中",
    "[日] 东野圭吾 / 刘姿君",
    "[英] 阿·柯南道尔 / 丁钟华 等",
    "林奕含",
    "[法] 圣埃克苏佩里 / 马振聘",
    "三毛",
    "金庸",
    "钱锺书",
    "路遥",
    "[美] 哈珀·李 / 高红梅",
    "[英] 毛姆 / 傅惟慈",
    "[法] 阿尔贝·加缪 / 柳鸣九",
    "[以色列] 尤瓦尔·赫拉利 / 林俊宏",
    "[美] 黄仁宇",
];

/// Publishers for the `p.pl` line.
pub(crate) const PUBLISHERS: &[&str] = &[
    "人民文学出版社",
    "作家出版社",
    "南海出版公司",
    "北京十月文艺出版社",
    "译林出版社",
    "重庆出版社",
    "上海译文出版社",
    "北京联合出版公司",
    "生活·读书·新知三联书店",
    "中华书局",
    "广西师范大学出版社",
    "浙江文艺出版社",
];

/// One-line quotes, as in Douban's `span.inq`.
pub(crate) const QUOTES: &[&str] = &[
    "都云作者痴，谁解其中味？",
    "生的苦难与伟大",
    "魔幻现实主义文学代表作",
    "栗树荫下，我出卖你，你出卖我",
    "昨日像那东逝的大江",
    "你我不过都是时间长河中的一粒沙",
    "是非成败转头空",
    "一宗离奇命案牵出跨度近20年步步惊心的故事",
    "名侦探的代名词",
    "太阳底下并无新事",
    "向死而生的文学",
    "献给长成了大人的孩子们",
    "游荡的自由灵魂",
    "有情皆孽，无人不冤",
    "对于人性的透彻描写",
    "每个人都有属于自己的月亮和六便士",
    "我们都是世界的局外人",
    "爱情是一种疾病",
    "一个人寻找自我的旅程",
    "从认知革命到科学革命",
];

/// Short reviews, several per book, which make up much of a page's weight.
pub(crate) const REVIEWS: &[&str] = &[
    "读了三遍，每一遍都有新的体会。年少时只看故事，后来才读懂人物的无奈与时代的荒凉，越读越觉得深不可测。",
    "文字朴素得近乎冷淡，却句句扎心。合上书的那一刻，窗外正下着雨，我坐了很久都没有起身。",
    "翻译稍显生硬，但不妨碍它成为我心中的经典。推荐给每一个在生活里迷路的人，慢慢读，别着急。",
    "高中时在图书馆偶然借到，从此再也没有放下。书页早已泛黄，折角的地方都是当年让我落泪的段落。",
    "结构精巧，伏笔埋得极深，读到最后一章才恍然大悟，忍不住又从头翻了一遍，作者真是讲故事的高手。",
    "有人说它过誉了，我不同意。它写的不是某一个人的命运，而是所有普通人都逃不开的那些日子。",
    "人物群像写得太好了，几十个角色个个鲜活，连只出场一次的小人物都有自己的来历和心事。",
    "适合在漫长的冬夜里读，一杯热茶，一盏台灯，整个世界都安静下来，只剩下书里的风声。",
    "第一次读觉得沉闷，十年后重读却哭得一塌糊涂。有些书需要一点人生阅历才能真正走进去。",
    "语言极具画面感，读的时候仿佛能闻到草原的风和麦田的味道，是我读过最美的中文之一。",
    "推荐买纸质版，注释和插图都很用心，排版舒服，拿在手里沉甸甸的，是值得收藏的好版本。",
    "故事本身并不复杂，但那种宿命般的悲凉感一直挥之不去，读完好几天都缓不过来，后劲太大。",
    "作者的幽默藏在冷静的叙述里，常常让人笑着笑着就沉默了，这才是真正高级的讽刺。",
    "给孩子买的，结果自己先读完了。大人和孩子能读出完全不同的东西，这大概就是经典的意义。",
    "逻辑清晰，论证扎实，很多观点颠覆了我过去的认知，强烈推荐给对历史和人类命运感兴趣的朋友。",
    "每一章都可以单独成篇，地铁上读一小段，一天的疲惫就消散了不少，是我的通勤必备读物。",
    "看完电视剧再来读原著，才发现改编删掉了太多细节，原著的丰富和细腻是影像无法替代的。",
    "书中那句话我抄在了笔记本的第一页，每当想要放弃的时候就翻出来看看，总能重新鼓起勇气。",
    "节奏很慢，前一百页需要耐心，但一旦进入那个世界就再也出不来了，熬夜读完，毫不后悔。",
    "五星给作者的勇气。这样真诚地直面人性阴暗的作品太少了，读得很痛，但必须有人写出来。",
];

/// Reviewer names.
pub(crate) const USERS: &[&str] = &[
    "小王子的玫瑰",
    "读书的猫",
    "北方有佳人",
    "安静的书虫",
    "南山南",
    "一只柠檬",
    "夜航船",
    "雨天不出门",
    "木心的读者",
    "江湖夜雨",
    "半夏",
    "慢慢读书",
    "lucy1987",
    "阿飞正传",
    "书海拾贝",
];

/// Everything from the doctype to `</head>`: a sizeable style sheet and inline scripts, one of
/// which holds a decoy item inside a JavaScript string.
pub(crate) const HEAD: &str = r#"<!DOCTYPE html>
<html lang="zh-CN" class="ua-linux ua-ff">
<head>
  <meta http-equiv="Content-Type" content="text/html; charset=utf-8">
  <meta charset="utf-8">
  <meta name="renderer" content="webkit">
  <meta name="referrer" content="always">
  <meta name="google-site-verification" content="demo-site-not-a-real-verification-token" />
  <title>
豆瓣读书 Top 250
</title>
  <meta name="keywords" content="豆瓣读书,新书速递,畅销书,书评,书单,图书排行榜,经典,小说,文学,历史,哲学,推理,科幻,漫画"/>
  <meta name="description" content="豆瓣读书Top 250，由豆瓣用户评分、评价人数等数据综合计算得出，是最受欢迎的250本图书。"/>
  <meta http-equiv="mobile-agent" content="format=html5; url=https://m.book.example/book/top250"/>
  <meta property="og:title" content="豆瓣读书 Top 250"/>
  <meta property="og:site_name" content="豆瓣读书"/>
  <link rel="shortcut icon" href="https://img3.book.example/favicon.ico" type="image/x-icon">
  <link rel="search" type="application/opensearchdescription+xml" title="豆瓣读书" href="/opensearch?cat=1001">
  <link href="https://img3.book.example/f/shire/css/core/_init_.css" rel="stylesheet" type="text/css">
  <link href="https://img3.book.example/f/book/css/book/master.css" rel="stylesheet" type="text/css">
  <style type="text/css">
    /* 页面基础样式：字体、颜色与链接 */
    body { font: 12px Helvetica, Arial, sans-serif; line-height: 1.62; color: #111; background: #fff; margin: 0; padding: 0; }
    h1 { font-size: 26px; font-weight: bold; color: #494949; margin: 0 0 15px 0; padding: 0; line-height: 1.1; word-wrap: break-word; }
    h2 { font: 15px Arial, Helvetica, sans-serif; color: #007722; margin: 0 0 12px 0; line-height: 150%; }
    h4 { font-size: 13px; font-weight: normal; color: #072; margin: 4px 0 6px 0; }
    a:link { color: #37a; text-decoration: none; }
    a:visited { color: #669; text-decoration: none; }
    a:hover { color: #fff; text-decoration: none; background: #37a; }
    a:active { color: #fff; text-decoration: none; background: #f93; }
    a img { border-width: 0; vertical-align: middle; }
    table { border-collapse: collapse; border: none; }
    td { padding: 0; vertical-align: top; }
    .clearfix:after { content: "."; display: block; height: 0; clear: both; visibility: hidden; }
    .clearfix { zoom: 1; display: inline-block; _height: 1px; }
    .clearfix { display: block; }
    /* 顶部全局导航 */
    #db-global-nav { color: #d5d5d5; background-color: #545652; height: 28px; margin: 0 0 12px 0; }
    #db-global-nav a:link, #db-global-nav a:visited, #db-global-nav a:active { color: #d5d5d5; }
    #db-global-nav a:hover { color: #fff; text-decoration: none; background: none; }
    #db-global-nav .bd { width: 950px; height: 28px; margin: 0 auto; }
    #db-global-nav .global-nav-items { float: left; height: 28px; line-height: 28px; }
    #db-global-nav .global-nav-items ul { margin: 0; padding: 0; list-style: none; }
    #db-global-nav .global-nav-items li { float: left; margin-right: 14px; }
    #db-global-nav .top-nav-info { float: right; position: relative; margin: 0; line-height: 28px; }
    #db-global-nav .top-nav-info li { display: inline; float: left; margin-left: 15px; }
    #db-global-nav .top-nav-doubanapp { float: right; margin-left: 15px; position: relative; }
    /* 读书频道导航与搜索 */
    #db-nav-book { position: relative; z-index: 10; margin-bottom: 40px; background: #f6f6f1; height: 92px; }
    #db-nav-book .nav-wrap { width: 950px; margin: 0 auto; }
    #db-nav-book .nav-logo { float: left; margin: 0 12px 0 0; padding: 0; font-size: 0; line-height: 0; }
    #db-nav-book .nav-logo a { display: block; width: 154px; height: 30px; margin-top: 28px; overflow: hidden; }
    #db-nav-book .nav-search { float: left; margin-top: 27px; }
    #db-nav-book .nav-search .inp { float: left; width: 470px; height: 30px; background: #fff; border: 1px solid #ccc; }
    #db-nav-book .nav-search .inp input { width: 96%; height: 22px; margin: 4px 0 0 8px; border: none; outline: none; font-size: 13px; }
    #db-nav-book .nav-search .bn { float: left; position: relative; width: 37px; height: 32px; margin-left: -1px; }
    #db-nav-book .nav-secondary { position: absolute; left: 0; bottom: 0; width: 100%; height: 30px; line-height: 30px; }
    #db-nav-book .nav-items ul { margin: 0; padding: 0; list-style: none; }
    #db-nav-book .nav-items li { float: left; padding: 0 16px 0 0; font-size: 14px; }
    #db-nav-book .nav-items li a { color: #37a; }
    /* 主体布局 */
    #wrapper { width: 950px; margin: 0 auto; }
    #content { min-height: 400px; height: auto; }
    #content h1 { margin-bottom: 24px; }
    .grid-16-8 .article { float: left; width: 675px; padding-right: 40px; }
    .grid-16-8 .aside { float: right; width: 310px; }
    .indent { padding-left: 0; }
    .indent table { margin: 0 0 12px 0; }
    /* 榜单条目 */
    tr.item td { padding-bottom: 4px; }
    .pl { font: 12px Arial, Helvetica, sans-serif; line-height: 150%; color: #666666; }
    p.pl { margin: 0 0 6px 0; }
    p.ul { clear: both; border-bottom: 1px dashed #ddd; height: 1px; margin: 0 0 12px 0; }
    .nbg img { padding: 0; border: 0; width: 90px; }
    .nbg:hover { background: none; }
    .ll { float: left; }
    .rr { float: right; }
    .star { margin: 0 0 4px 0; font-size: 12px; line-height: 14px; }
    .star span { float: left; margin-right: 4px; }
    .rating_nums { color: #e09015; font-size: 12px; padding: 0 3px; }
    .allstar50, .allstar45, .allstar40, .allstar35, .allstar30, .allstar25, .allstar20, .allstar10, .allstar00 { display: inline-block; width: 55px; height: 11px; margin: 1px 0 0 0; overflow: hidden; background: url(https://img3.book.example/pics/ic_rating_s.png) no-repeat; }
    .allstar50 { background-position: 0 0; }
    .allstar45 { background-position: 0 -11px; }
    .allstar40 { background-position: 0 -22px; }
    .allstar35 { background-position: 0 -33px; }
    .allstar30 { background-position: 0 -44px; }
    .allstar25 { background-position: 0 -55px; }
    .allstar20 { background-position: 0 -66px; }
    .allstar10 { background-position: 0 -88px; }
    .allstar00 { background-position: 0 -110px; }
    .quote { overflow: hidden; margin: 10px 0 0 0; }
    .quote .inq { font-style: normal; color: #666; letter-spacing: 1px; }
    .short-reviews { margin: 6px 0 8px 0; padding: 6px 10px; background: #f9f9f7; border-left: 3px solid #e6e6e6; }
    .short-reviews ul { margin: 0; padding: 0; list-style: none; }
    .comment-item { padding: 6px 0; border-bottom: 1px dotted #e5e5e5; }
    .comment-item:last-child { border-bottom: none; }
    .comment-info { display: block; color: #999; margin-bottom: 3px; }
    .comment-info a { margin-right: 6px; }
    .comment-time { color: #aaa; margin-left: 6px; }
    .comment-content { margin: 0; line-height: 1.8; color: #494949; word-break: break-all; }
    .empty-tip { padding: 40px 0; color: #999; font-size: 14px; text-align: center; }
    /* 翻页 */
    .paginator { font: 14px Arial, Helvetica, sans-serif; margin: 20px 0 40px 0; text-align: center; color: #666; }
    .paginator a, .paginator span { display: inline-block; margin: 0 4px; padding: 0 4px; }
    .paginator .thispage { color: #fff; background: #83bf73; border-radius: 2px; }
    .paginator .prev, .paginator .next { margin: 0 12px; }
    .paginator .count { color: #999; font-size: 12px; }
    .paginator-info { color: #999; margin: -12px 0 16px 0; }
    /* 侧栏 */
    .aside h2 { color: #007722; font-size: 14px; }
    .aside h2 span.pl { font-size: 12px; color: #999; }
    .aside .mod { margin-bottom: 30px; }
    .aside ul.tag-list { margin: 0; padding: 0; list-style: none; overflow: hidden; }
    .aside ul.tag-list li { float: left; margin: 0 8px 8px 0; }
    .aside ul.tag-list a { display: inline-block; padding: 2px 8px; background: #f5f5f5; color: #37a; border-radius: 2px; }
    .aside ol.rank-list { margin: 0; padding-left: 20px; color: #999; }
    .aside ol.rank-list li { margin-bottom: 6px; }
    .aside .app-promo { padding: 12px; background: #f4f4ec; border: 1px solid #e8e8de; }
    /* 页脚 */
    #footer { color: #999; padding: 10px 0 30px 0; border-top: 1px dashed #ddd; clear: both; }
    #footer .fright { float: right; }
    #footer a { margin-right: 10px; }
    .hidden { display: none !important; }
    @media screen and (max-width: 960px) {
      #wrapper, #db-global-nav .bd, #db-nav-book .nav-wrap { width: auto; margin: 0 10px; }
      .grid-16-8 .article { float: none; width: auto; padding-right: 0; }
      .grid-16-8 .aside { float: none; width: auto; }
    }
  </style>
  <script type="text/javascript">
    var _head_start = new Date();
    var _vds = _vds || [];
    (function () {
      _vds.push(['setAccountId', '22c937bbd8ebd703f2d8e9445f7dfd03']);
      _vds.push(['setCS1', 'user_id', '0']);
      var vds = document.createElement('script');
      vds.type = 'text/javascript';
      vds.async = true;
      vds.src = ('https:' == document.location.protocol ? 'https://' : 'http://') + 'static.book.example/vds.js';
      var s = document.getElementsByTagName('script')[0];
      if (s && s.parentNode) { s.parentNode.insertBefore(vds, s); }
    })();
  </script>
  <script type="text/javascript">
    // 渲染“猜你喜欢”时使用的条目模板；真正的榜单条目在下面的表格里。
    var tpl = '<div class="pl2"><a href="https://decoy.example/script">DECOY in script</a></div>';
    var Do = window.Do || function () {};
    function moreurl(el, params) {
      var query = [];
      for (var key in params) {
        if (Object.prototype.hasOwnProperty.call(params, key)) {
          query.push(encodeURIComponent(key) + '=' + encodeURIComponent(params[key]));
        }
      }
      var href = el.getAttribute('href') || '';
      if (href.indexOf('from=') < 0 && query.length > 0) {
        el.setAttribute('data-moreurl', query.join('&'));
      }
      return true;
    }
    function renderGuess(list) {
      var html = [];
      for (var i = 0; i < list.length && i < 5; i++) {
        html.push(tpl.replace('DECOY in script', list[i].title));
      }
      return html.join('');
    }
  </script>
</head>
"#;

/// From `<body>` to just before the listing: navigation bars, search box and heading.
pub(crate) const BODY_TOP: &str = r#"<body>
  <script type="text/javascript">var _body_start = new Date();</script>
  <div id="db-global-nav" class="global-nav">
    <div class="bd">
      <div class="top-nav-info">
        <ul>
          <li><a href="https://accounts.book.example/passport/login" class="nav-login" rel="nofollow">登录/注册</a></li>
        </ul>
      </div>
      <div class="top-nav-doubanapp">
        <a href="https://www.book.example/doubanapp/app?channel=top-nav" class="lnk-doubanapp">下载豆瓣客户端</a>
      </div>
      <div class="global-nav-items">
        <ul>
          <li><a href="https://www.book.example" target="_blank">豆瓣</a></li>
          <li class="on"><a href="https://book.book.example">读书</a></li>
          <li><a href="https://movie.book.example" target="_blank">电影</a></li>
          <li><a href="https://music.book.example" target="_blank">音乐</a></li>
          <li><a href="https://www.book.example/location" target="_blank">同城</a></li>
          <li><a href="https://www.book.example/group" target="_blank">小组</a></li>
          <li><a href="https://read.book.example" target="_blank">阅读</a></li>
          <li><a href="https://fm.book.example" target="_blank">FM</a></li>
          <li><a href="https://time.book.example/?dt_time_source=douban-web_anonymous" target="_blank">时间</a></li>
          <li><a href="https://market.book.example/?utm_campaign=douban_top_nav" target="_blank">豆品</a></li>
        </ul>
      </div>
    </div>
  </div>
  <div id="db-nav-book" class="nav">
    <div class="nav-wrap">
      <div class="nav-primary">
        <div class="nav-logo">
          <a href="https://book.book.example">豆瓣读书</a>
        </div>
        <div class="nav-search">
          <form action="https://search.book.example/book/subject_search" method="get">
            <fieldset>
              <legend>搜索：</legend>
              <label for="inp-query">书名、作者、ISBN</label>
              <div class="inp"><input id="inp-query" name="search_text" size="22" maxlength="60" placeholder="书名、作者、ISBN" value=""></div>
              <div class="inp-btn"><input type="submit" value="搜索"></div>
              <input type="hidden" name="cat" value="1001" />
            </fieldset>
          </form>
        </div>
      </div>
    </div>
    <div class="nav-secondary">
      <div class="nav-items">
        <ul>
          <li><a href="https://book.book.example/cart/">购书单</a></li>
          <li><a href="https://read.book.example/ebooks/?dcs=book-nav&amp;dcm=douban">电子图书</a></li>
          <li><a href="https://book.book.example/annual/2024?source=navigation" target="_blank">2024年度榜单</a></li>
          <li><a href="https://book.book.example/tag/">分类浏览</a></li>
          <li><a href="https://book.book.example/latest">新书速递</a></li>
          <li><a href="https://book.book.example/chart">热门图书</a></li>
          <li><a href="https://book.book.example/review/best/">热门书评</a></li>
          <li><a href="https://book.book.example/top250">Top 250</a></li>
        </ul>
      </div>
    </div>
  </div>
  <div id="wrapper">
    <div id="content">
      <h1>豆瓣读书 Top 250</h1>
      <div class="grid-16-8 clearfix">
        <div class="article">
          <div class="indent">
            <p class="ulfirst"></p>
"#;

/// A decoy item inside an HTML comment, where a real parser will not see it.
pub(crate) const DECOY_COMMENT: &str = r#"<!--
  旧版榜单条目，改版后已停用：
  <div class="pl2"><a href="https://decoy.example/comment">DECOY in comment</a></div>
-->
"#;

/// The listing of a page without items.
pub(crate) const EMPTY_LISTING: &str = r#"<div class="empty-tip">
  <p>没有更多了</p>
  <p class="pl">这一页暂时没有图书，去<a href="https://book.book.example/tag/">分类浏览</a>看看吧。</p>
</div>
"#;

/// From the end of the listing to `</html>`: sidebar, footer and the scripts at the bottom.
pub(crate) const BODY_BOTTOM: &str = r#"          </div>
        </div>
        <div class="aside">
          <div class="mod">
            <h2>关于豆瓣读书 Top 250&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h2>
            <p class="pl">豆瓣读书 Top 250 是根据每本书的评分、评价人数以及评分的可信程度综合计算得出的榜单，
            每天更新一次。只有评价人数足够多的图书才会进入候选，以避免少数人打分带来的偏差。
            榜单不代表编辑推荐，只反映豆瓣用户的整体口味。</p>
          </div>
          <div class="mod">
            <h2>热门标签&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·<span class="pl">&nbsp;(<a href="https://book.book.example/tag/">全部</a>)</span></h2>
            <ul class="tag-list">
              <li><a href="/tag/小说">小说</a></li>
              <li><a href="/tag/外国文学">外国文学</a></li>
              <li><a href="/tag/文学">文学</a></li>
              <li><a href="/tag/经典">经典</a></li>
              <li><a href="/tag/中国文学">中国文学</a></li>
              <li><a href="/tag/随笔">随笔</a></li>
              <li><a href="/tag/日本文学">日本文学</a></li>
              <li><a href="/tag/散文">散文</a></li>
              <li><a href="/tag/村上春树">村上春树</a></li>
              <li><a href="/tag/诗歌">诗歌</a></li>
              <li><a href="/tag/童话">童话</a></li>
              <li><a href="/tag/名著">名著</a></li>
              <li><a href="/tag/历史">历史</a></li>
              <li><a href="/tag/心理学">心理学</a></li>
              <li><a href="/tag/哲学">哲学</a></li>
              <li><a href="/tag/社会学">社会学</a></li>
              <li><a href="/tag/推理">推理</a></li>
              <li><a href="/tag/科幻">科幻</a></li>
              <li><a href="/tag/漫画">漫画</a></li>
              <li><a href="/tag/绘本">绘本</a></li>
              <li><a href="/tag/武侠">武侠</a></li>
              <li><a href="/tag/东野圭吾">东野圭吾</a></li>
            </ul>
          </div>
          <div class="mod">
            <h2>最受关注图书榜&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h2>
            <ol class="rank-list">
              <li><a href="https://book.book.example/subject/36104107/">长安的荔枝</a> <span class="pl">马伯庸 / 湖南文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35196328/">置身事内</a> <span class="pl">兰小欢 / 上海人民出版社</span></li>
              <li><a href="https://book.book.example/subject/35984010/">我与地坛</a> <span class="pl">史铁生 / 人民文学出版社</span></li>
              <li><a href="https://book.book.example/subject/36087592/">额尔古纳河右岸</a> <span class="pl">迟子建 / 北京十月文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35912345/">蛤蟆先生去看心理医生</a> <span class="pl">罗伯特·戴博德 / 天津人民出版社</span></li>
              <li><a href="https://book.book.example/subject/36001234/">一句顶一万句</a> <span class="pl">刘震云 / 长江文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35876543/">黄金时代</a> <span class="pl">王小波 / 北京十月文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35765432/">人生海海</a> <span class="pl">麦家 / 北京十月文艺出版社</span></li>
            </ol>
          </div>
          <div class="mod app-promo">
            <h2>豆瓣读书客户端</h2>
            <p class="pl">随时随地记录想读、在读、读过的书，查看好友的读书动态，发现更多好书。
            扫描二维码下载，或在各大应用商店搜索“豆瓣”。</p>
            <p><a href="https://www.book.example/doubanapp/app?channel=book-top250">iOS · Android</a></p>
          </div>
        </div>
        <div class="extra"></div>
      </div>
    </div>
    <div id="footer">
      <span id="icp" class="fleft gray-link">
        &copy; 2005－2025 book.example, all rights reserved 示例站点，仅供本地测试使用
      </span>
      <span class="fright">
        <a href="https://www.book.example/about">关于豆瓣</a>
        · <a href="https://www.book.example/jobs">在豆瓣工作</a>
        · <a href="https://www.book.example/about?topic=contactus">联系我们</a>
        · <a href="https://www.book.example/about/legal">法律声明</a>
        · <a href="https://help.book.example/?app=book" target="_blank">帮助中心</a>
        · <a href="https://book.book.example/library_invitation">图书馆合作</a>
        · <a href="https://www.book.example/doubanapp/">移动应用</a>
        · <a href="https://www.book.example/partner/">豆瓣广告</a>
      </span>
    </div>
  </div>
  <script type="text/javascript">
    (function (win, doc) {
      var start = win._head_start || new Date();
      function report(name, value) {
        var img = new Image();
        img.src = 'https://log.book.example/stat.gif?' + encodeURIComponent(name) + '=' + encodeURIComponent(value);
      }
      function ready(fn) {
        if (doc.readyState === 'complete' || doc.readyState === 'interactive') { setTimeout(fn, 0); }
        else { doc.addEventListener('DOMContentLoaded', fn); }
      }
      ready(function () {
        report('dom_ready', new Date() - start);
        var items = doc.querySelectorAll('tr.item');
        report('item_count', items.length);
        for (var i = 0; i < items.length; i++) {
          items[i].addEventListener('mouseenter', function () { this.className += ' hover'; });
          items[i].addEventListener('mouseleave', function () { this.className = this.className.replace(' hover', ''); });
        }
      });
      win.addEventListener('load', function () { report('page_load', new Date() - start); });
    })(window, document);
  </script>
  <!-- 页面生成于本地示例站点 pagecrawl demo_site；所有链接均指向 .example 域名，不会访问互联网 -->
</body>
</html>
"#;
